"""One playbook job on an execution node, through ansible-runner's streaming protocol.

transmit (here, job_package.py) | `ansible-runner worker` (on the node, kept by agent.py) |
process (here): the pipeline AWX and Receptor use, carried by SSH. Events and status flow
into the step's progress and result exactly as for a local job; they are deduplicated by
uuid (a re-attach may overlap), and the bytes read are counted.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from restore.ansible.failures import failure_text, task_failure
from restore.ansible.nodes.job_package import write_transmit
from restore.ansible.nodes.link import (
    CONNECT_TIMEOUT_S,
    IDLE_LIMIT_S,
    REATTACH_DEADLINE_S,
    JobStream,
    NodeLink,
)
from restore.ansible.request import PlaybookRequest, ProgressFn
from restore.ansible.runner import PlaybookResult, custom_stats, host_stats, scrub_artifacts
from restore.models import HostSpec
from restore.secrets import redact, redact_text
from restore.transports.base import TransportError


def run_playbook_on_node(
    request: PlaybookRequest,
    *,
    node: HostSpec,
    target: HostSpec,
    vault_password_file: Path | None = None,
    reattach_deadline_s: float = REATTACH_DEADLINE_S,
    idle_limit_s: float = IDLE_LIMIT_S,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    attach_to: str | None = None,
    on_submitted: Callable[[str], None] | None = None,
) -> PlaybookResult:
    """Like `restore.ansible.runner.run_playbook`, but executed by `node`. Never raises: a failed
    play, an unreachable node or a lost job is a result (status error, unknown...).

    `target` is the request's host as the inventories resolved it here: the job carries its
    variables, never the inventory files (restore.ansible.nodes.job_package).

    `attach_to` names a job submitted earlier (by an orchestrator that then stopped): it is
    followed from its start, never submitted again. `on_submitted` hears a new job's id as
    soon as the node holds it."""
    started = time.monotonic()
    work_dir = request.work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    known_secrets = request.known_secrets()
    ident = attach_to or uuid.uuid4().hex
    transmitted = work_dir / f"transmit-{ident}"

    result = _result_maker(node, target, work_dir, known_secrets, started)
    link = NodeLink(node, ident, connect_timeout_s)
    try:
        if attach_to is None:
            refused = _submit(link, transmitted, ident, target, request, vault_password_file)
            if refused is not None:
                return result("error", refused)
            if on_submitted is not None:
                on_submitted(ident)
        return _follow(
            link,
            ident=ident,
            target=target.name,
            work_dir=work_dir,
            started=started,
            timeout_s=request.timeout_s,
            cancel=request.cancel,
            progress=request.progress,
            reattach_deadline_s=reattach_deadline_s,
            idle_limit_s=idle_limit_s,
            result=result,
        )
    finally:
        link.drop()


_ResultFn = Callable[..., PlaybookResult]


def _result_maker(
    node: HostSpec, target: HostSpec, work_dir: Path, known_secrets: list[str], started: float
) -> _ResultFn:
    """How every outcome becomes a PlaybookResult: artifacts scrubbed, secrets masked."""

    def result(status: str, message: str, **fields: Any) -> PlaybookResult:
        scrub_artifacts(work_dir, known_secrets)
        # a module's message may echo a secret the play was given
        fields["failures"] = tuple(redact(f, known_secrets) for f in fields.get("failures", ()))
        fields["custom_stats"] = redact(fields.get("custom_stats", {}), known_secrets)
        return PlaybookResult(
            status,
            fields.pop("rc", None),
            target.name,
            duration_s=time.monotonic() - started,
            message=redact_text(f"on node {node.name}: {message}", known_secrets),
            **fields,
        )

    return result


def _submit(
    link: NodeLink,
    transmitted: Path,
    ident: str,
    target: HostSpec,
    request: PlaybookRequest,
    vault_password_file: Path | None,
) -> str | None:
    """Build the job and hand it to the node; why not, or None once the node holds it."""
    try:
        write_transmit(
            transmitted,
            ident=ident,
            target=target,
            playbook=request.playbook,
            extravars=request.play_vars(),
            check=request.check,
            vault_password_file=vault_password_file,
        )
    except Exception as exc:  # a job that cannot be built fails its step, not the run
        return f"cannot prepare the job: {type(exc).__name__}: {exc}"
    try:
        link.start(transmitted)
    except TransportError as exc:
        return f"execution node unreachable: {exc}"
    finally:
        transmitted.unlink(missing_ok=True)  # it holds the target's key in the clear
    return None


@dataclass
class _JobEvents:
    """What the job's events and status lines said; each event handled once (by uuid: a
    re-attach may replay some)."""

    target: str
    progress: ProgressFn | None
    seen: set[str] = field(default_factory=set)
    failed_tasks: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    recorded: dict[str, Any] = field(default_factory=dict)
    explanation: list[str] = field(default_factory=list)

    def on_event(self, event: Mapping[str, Any]) -> bool:
        event_id = str(event.get("uuid", ""))
        if event_id in self.seen:
            return False  # already handled and written
        self.seen.add(event_id)
        data = event.get("event_data") or {}
        kind = str(event.get("event", ""))
        failure = task_failure(event)
        if failure is not None:
            self.failures.append(failure)
            prefix = "unreachable: " if failure["unreachable"] else ""
            self.failed_tasks.append(prefix + str(failure["task"]))
        if kind == "playbook_on_stats":
            self.stats.update(host_stats(data, self.target))
            self.recorded.update(custom_stats(event))
        if self.progress is not None and kind in {"playbook_on_task_start", "runner_on_failed"}:
            self.progress(str(data.get("task", kind)))
        return True

    def on_status(self, status: Mapping[str, Any], runner_config: Any = None) -> None:
        if status.get("job_explanation"):
            self.explanation.append(str(status["job_explanation"]))


def _follow(
    link: NodeLink,
    *,
    ident: str,
    target: str,
    work_dir: Path,
    started: float,
    timeout_s: float | None,
    cancel: threading.Event | None,
    progress: ProgressFn | None,
    reattach_deadline_s: float,
    idle_limit_s: float,
    result: _ResultFn,
) -> PlaybookResult:
    events = _JobEvents(target, progress)

    def stop_reason() -> str | None:
        if cancel is not None and cancel.is_set():
            return "canceled"
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            return "timeout"
        return None

    def on_reattach(offset: int) -> None:
        if progress is not None:
            progress(f"link to node {link.node.name} lost; re-attaching at byte {offset}")

    stream = JobStream(link, stop_reason, reattach_deadline_s, on_reattach, idle_limit_s)
    status = _process(stream, work_dir, ident, events)
    if stream.stopped in {"canceled", "timeout"}:
        link.cancel()  # stops the job and all it started, on the node
    if stream.stopped != "unknown":
        link.cleanup()  # an unknown job is left for the operator to look at
    status = stream.stopped or status
    artifacts = work_dir / "artifacts" / ident
    rc = _read_int(artifacts / "rc")
    return result(
        status,
        _message(status, rc, events, ident, stream),
        rc=rc,
        stats=events.stats,
        failed_tasks=tuple(events.failed_tasks),
        failures=tuple(events.failures),
        artifacts=str(artifacts),
        custom_stats=events.recorded,
    )


def _process(stream: JobStream, work_dir: Path, ident: str, events: _JobEvents) -> str:
    """ansible-runner's `process` side reads the job's stream; its status, or "error"."""
    try:
        processor = ansible_runner.run(
            streamer="process",
            _input=stream,
            private_data_dir=str(work_dir),
            ident=ident,
            event_handler=events.on_event,
            status_handler=events.on_status,
            quiet=True,
        )
        return str(processor.status)
    except Exception as exc:  # e.g. the stream ended in the middle of the artifacts
        events.explanation.append(f"{type(exc).__name__}: {exc}")
        return "error"
    finally:
        stream.close()


def _message(status: str, rc: int | None, events: _JobEvents, ident: str, stream: JobStream) -> str:
    failures = events.failures
    message = f"{status}, rc={rc}" + (f": {failure_text(failures[0])}" if failures else "")
    if events.explanation and status not in {"successful", "failed"}:
        message += f" ({events.explanation[-1]})"
    return message + (
        f"; job {ident}, {stream.offset} bytes read, re-attached {stream.reattached} time(s)"
    )


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
