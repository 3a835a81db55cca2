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

    link = NodeLink(node, ident, connect_timeout_s)
    try:
        if attach_to is None:
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
                return result("error", f"cannot prepare the job: {type(exc).__name__}: {exc}")
            try:
                link.start(transmitted)
            except TransportError as exc:
                return result("error", f"execution node unreachable: {exc}")
            finally:
                transmitted.unlink(missing_ok=True)  # it holds the target's key in the clear
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
    result: Any,
) -> PlaybookResult:
    seen: set[str] = set()
    failed_tasks: list[str] = []
    failures: list[dict[str, Any]] = []
    stats: dict[str, int] = {}
    recorded: dict[str, Any] = {}
    explanation: list[str] = []

    def on_event(event: Mapping[str, Any]) -> bool:
        event_id = str(event.get("uuid", ""))
        if event_id in seen:
            return False  # already handled and written
        seen.add(event_id)
        data = event.get("event_data") or {}
        kind = str(event.get("event", ""))
        failure = task_failure(event)
        if failure is not None:
            failures.append(failure)
            prefix = "unreachable: " if failure["unreachable"] else ""
            failed_tasks.append(prefix + str(failure["task"]))
        if kind == "playbook_on_stats":
            stats.update(host_stats(data, target))
            recorded.update(custom_stats(event))
        if progress is not None and kind in {"playbook_on_task_start", "runner_on_failed"}:
            progress(str(data.get("task", kind)))
        return True

    def on_status(status: Mapping[str, Any], runner_config: Any = None) -> None:
        if status.get("job_explanation"):
            explanation.append(str(status["job_explanation"]))

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
    status = "error"
    try:
        processor = ansible_runner.run(
            streamer="process",
            _input=stream,
            private_data_dir=str(work_dir),
            ident=ident,
            event_handler=on_event,
            status_handler=on_status,
            quiet=True,
        )
        status = str(processor.status)
    except Exception as exc:  # e.g. the stream ended in the middle of the artifacts
        explanation.append(f"{type(exc).__name__}: {exc}")
    finally:
        stream.close()
    if stream.stopped in {"canceled", "timeout"}:
        link.cancel()  # stops the job and all it started, on the node
    if stream.stopped != "unknown":
        link.cleanup()  # an unknown job is left for the operator to look at
    status = stream.stopped or status
    artifacts = work_dir / "artifacts" / ident
    rc = _read_int(artifacts / "rc")
    message = f"{status}, rc={rc}" + (f": {failure_text(failures[0])}" if failures else "")
    if explanation and status not in {"successful", "failed"}:
        message += f" ({explanation[-1]})"
    message += f"; job {ident}, {stream.offset} bytes read, re-attached {stream.reattached} time(s)"
    return result(  # type: ignore[no-any-return]
        status,
        message,
        rc=rc,
        stats=stats,
        failed_tasks=tuple(failed_tasks),
        failures=tuple(failures),
        artifacts=str(artifacts),
        custom_stats=recorded,
    )


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
