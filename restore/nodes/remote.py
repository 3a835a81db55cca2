"""One playbook job on an execution node, through ansible-runner's streaming protocol.

transmit (here) | `ansible-runner worker` (on the node, over SSH) | process (here): the same
pipeline AWX and Receptor use, carried by SSH. The job carries everything the node needs:
the playbook's directory, a one-host inventory, the target's known_hosts and key, the vault
password. Host-key checking stays on: ansible-runner would turn it off otherwise.

Why a fresh staging directory per job, deleted right after transmit: transmit packs the whole
private data directory, so a reused one silently ships the previous job's extra vars.
Events are deduplicated by uuid and the bytes read are counted, so that an operator can see
how far a job got.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import ansible_runner
import paramiko
import yaml

from restore.ansible import ANSIBLE_ENV, PlaybookResult, ProgressFn, host_stats, scrub_artifacts
from restore.journal import redact_text
from restore.models import HostSpec
from restore.nodes import NODE_RUNNER, NODE_VENV
from restore.transports.base import TransportError
from restore.transports.ssh import SshTransport, known_hosts_files

KEEPALIVE_S = 10
IDLE_LIMIT_S = 4 * KEEPALIVE_S + 15
"""With keepalives every 10 s, this long without a byte means the link or the node is gone;
`process` alone has no read timeout and would wait forever."""
CONNECT_TIMEOUT_S = 15.0
MAX_PROJECT_BYTES = 64 << 20
_PATH_VARS = {
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_args",
    "restore_lab",
}
# The worker's private data dir is removed when the worker ends, with the keys it received.
_WORKER = (
    "dir=$(mktemp -d /tmp/restore-job.XXXXXX) && trap 'rm -rf \"$dir\"' EXIT && "
    'PATH={venv}/bin:$PATH {runner} worker --private-data-dir "$dir" '
    "--keepalive-seconds {keepalive}"
)


class _Stopped(OSError):
    """Raised inside `process` to end it: ansible-runner turns an OSError into an error status."""


def run_playbook_on_node(
    *,
    node: HostSpec,
    target: HostSpec,
    playbook: Path,
    work_dir: Path,
    extravars: Mapping[str, Any] | None = None,
    secret_extravars: Mapping[str, Any] | None = None,
    secrets: Iterable[str] = (),
    check: bool = False,
    timeout_s: float | None = None,
    cancel: threading.Event | None = None,
    progress: ProgressFn | None = None,
    vault_password_file: Path | None = None,
) -> PlaybookResult:
    """Like `restore.ansible.run_playbook`, but executed by `node`; never raises for a failed
    play or an unreachable node (that is data)."""
    started = time.monotonic()
    work_dir.mkdir(parents=True, exist_ok=True)
    known_secrets = [*secrets, *(str(v) for v in (secret_extravars or {}).values() if v)]
    ident = uuid.uuid4().hex
    transmitted = work_dir / f"transmit-{ident}"

    def result(status: str, message: str, **fields: Any) -> PlaybookResult:
        scrub_artifacts(work_dir, known_secrets)
        return PlaybookResult(
            status,
            fields.pop("rc", None),
            target.name,
            duration_s=time.monotonic() - started,
            message=redact_text(f"on node {node.name}: {message}", known_secrets),
            **fields,
        )

    try:
        _transmit(
            transmitted,
            ident=ident,
            target=target,
            playbook=playbook,
            extravars={**(extravars or {}), **(secret_extravars or {})},
            check=check,
            vault_password_file=vault_password_file,
        )
    except Exception as exc:  # a job that cannot be built fails its step, not the run
        transmitted.unlink(missing_ok=True)
        return result("error", f"cannot prepare the job: {type(exc).__name__}: {exc}")
    transport = SshTransport(node)
    try:
        transport.connect(CONNECT_TIMEOUT_S)
        channel = transport.open_stream(
            _WORKER.format(
                venv=shlex.quote(NODE_VENV), runner=shlex.quote(NODE_RUNNER), keepalive=KEEPALIVE_S
            ),
            CONNECT_TIMEOUT_S,
        )
    except TransportError as exc:
        transmitted.unlink(missing_ok=True)
        transport.close()
        return result("error", f"execution node unreachable: {exc}")
    try:
        return _exchange(
            channel,
            transmitted,
            ident=ident,
            target=target.name,
            work_dir=work_dir,
            started=started,
            timeout_s=timeout_s,
            cancel=cancel,
            progress=progress,
            done=result,
        )
    finally:
        channel.close()
        transport.close()
        transmitted.unlink(missing_ok=True)  # it holds the target's key in the clear


def _exchange(
    channel: paramiko.Channel,
    transmitted: Path,
    *,
    ident: str,
    target: str,
    work_dir: Path,
    started: float,
    timeout_s: float | None,
    cancel: threading.Event | None,
    progress: ProgressFn | None,
    done: Callable[..., PlaybookResult],
) -> PlaybookResult:
    sender = threading.Thread(target=_send, args=(channel, transmitted), daemon=True)
    sender.start()
    seen: set[str] = set()
    failed_tasks: list[str] = []
    stats: dict[str, int] = {}
    explanation: list[str] = []

    def on_event(event: Mapping[str, Any]) -> bool:
        event_id = str(event.get("uuid", ""))
        if event_id in seen:
            return False  # a replayed stream: already handled and written
        seen.add(event_id)
        data = event.get("event_data") or {}
        kind = str(event.get("event", ""))
        if kind == "runner_on_failed" and not data.get("ignore_errors"):
            failed_tasks.append(str(data.get("task", "?")))
        if kind == "runner_on_unreachable":
            failed_tasks.append(f"unreachable: {data.get('task', '?')}")
        if kind == "playbook_on_stats":
            stats.update(host_stats(data, target))
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

    status = "error"
    reader = _ChannelReader(channel, stop_reason)
    try:
        processor = ansible_runner.run(
            streamer="process",
            _input=reader,
            private_data_dir=str(work_dir),
            ident=ident,
            event_handler=on_event,
            status_handler=on_status,
            quiet=True,
        )
        status = str(processor.status)
    except Exception as exc:  # e.g. the link dropped in the middle of the artifacts
        explanation.append(f"{type(exc).__name__}: {exc}")
    artifacts = work_dir / "artifacts" / ident
    rc = _read_int(artifacts / "rc")
    if reader.stopped:
        status = reader.stopped
    message = f"{status}, rc={rc}" + (f": {failed_tasks[0]}" if failed_tasks else "")
    if explanation and status not in {"successful", "failed"}:
        message += f" ({explanation[-1]})"
    return done(
        status,
        message + f"; {reader.offset} bytes from the node",
        rc=rc,
        stats=stats,
        failed_tasks=tuple(failed_tasks),
        artifacts=str(artifacts),
    )


def _send(channel: paramiko.Channel, transmitted: Path) -> None:
    try:
        with transmitted.open("rb") as stream:
            while chunk := stream.read(64 * 1024):
                channel.sendall(chunk)
        channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        return  # the reading side reports the lost link


class _ChannelReader:
    """The worker's stdout as the file `process` reads, with the idle watchdog, the deadline
    and the cancel that `process` itself does not have, counting the bytes consumed. The raw
    stream is not kept: it carries the artifacts zip, which scrubbing could not reach."""

    closed = False

    def __init__(self, channel: paramiko.Channel, stop: Callable[[], str | None]) -> None:
        self._channel = channel
        self._stop = stop
        self._buffer = bytearray()
        self._last = time.monotonic()
        self.offset = 0
        self.stopped: str | None = None
        channel.settimeout(0.5)

    def _fill(self) -> bool:
        while True:
            reason = self._stop()
            if reason is None and time.monotonic() - self._last > IDLE_LIMIT_S:
                reason = "unknown"  # nothing from the node, not even a keepalive
            if reason is not None:
                self.stopped = reason
                raise _Stopped(f"job {reason} while reading from the execution node")
            try:
                data = self._channel.recv(64 * 1024)
            except TimeoutError:  # the 0.5 s poll: look at the watchdog again
                continue
            self._last = time.monotonic()
            if not data:
                return False
            self._buffer += data
            return True

    def readline(self, size: int = -1) -> bytes:
        while b"\n" not in self._buffer and self._fill():
            pass
        end = self._buffer.find(b"\n")
        end = len(self._buffer) if end < 0 else end + 1
        return self._take(end)

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and self._fill():
            pass
        return self._take(len(self._buffer) if size < 0 else min(size, len(self._buffer)))

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        self.offset += len(data)
        return data

    def readable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        raise OSError("read-only stream")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None  # the channel belongs to run_playbook_on_node


def _transmit(
    out_path: Path,
    *,
    ident: str,
    target: HostSpec,
    playbook: Path,
    extravars: Mapping[str, Any],
    check: bool,
    vault_password_file: Path | None,
) -> None:
    staging = Path(tempfile.mkdtemp(prefix="restore-stage-"))
    try:
        _copy_project(playbook.resolve().parent, staging / "project")
        (staging / "inventory").mkdir()
        inventory = staging / "inventory" / "hosts.yml"
        inventory.write_text(yaml.safe_dump(_job_inventory(target)))
        known_hosts = b"".join(p.read_bytes() for p in known_hosts_files(target))
        (staging / "inventory" / "known_hosts").write_bytes(known_hosts)
        key_file = target.var("ansible_ssh_private_key_file") or target.var(
            "ansible_private_key_file"
        )
        ssh_key = Path(str(key_file)).expanduser().read_text() if key_file else None
        cmdline = ["--check", "--diff"] if check else []
        if vault_password_file is not None:
            shutil.copyfile(vault_password_file, staging / "vault-password")
            cmdline += ["--vault-password-file", "../vault-password"]
        with out_path.open("wb") as out:
            out_path.chmod(0o600)
            ansible_runner.run(
                streamer="transmit",
                _output=out,
                private_data_dir=str(staging),
                ident=ident,
                playbook=playbook.name,
                inventory=str(inventory),  # absolute: transmit makes it relative
                limit=target.name,
                extravars=dict(extravars),
                envvars=dict(ANSIBLE_ENV),
                ssh_key=ssh_key,
                cmdline=" ".join(shlex.quote(a) for a in cmdline) or None,
                quiet=True,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_project(source: Path, project: Path) -> None:
    """The playbook's directory (roles, group_vars...), which every job carries. Bounded:
    a playbook kept beside unrelated data would otherwise ship all of it to the node."""
    total = 0
    for root, dirs, files in os.walk(source):
        here = Path(root)
        dirs[:] = [d for d in dirs if not os.path.ismount(here / d) and d != ".git"]
        target = project / here.relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            path = here / name
            if not path.is_file():
                continue  # sockets, fifos, devices: nothing a playbook reads
            total += path.stat().st_size
            if total > MAX_PROJECT_BYTES:
                raise ValueError(
                    f"the playbook directory {source} holds more than "
                    f"{MAX_PROJECT_BYTES >> 20} MiB, and every job on an execution node carries a "
                    "copy of it: keep playbooks in a directory of their own"
                )
            shutil.copy2(path, target / name)


def _job_inventory(target: HostSpec) -> dict[str, Any]:
    """The target alone, with every variable it resolved to here (group vars included), and
    its known_hosts taken from inside the job."""
    # str(): ansible-core hands back tagged strings, which a plain YAML dump refuses
    host_vars: dict[str, Any] = {
        str(k): v for k, v in target.connection_vars if k not in _PATH_VARS
    }
    host_vars.update({str(k): str(v) for k, v in target.secret_vars})
    host_vars.update(
        {
            "ansible_host": target.address,
            "ansible_port": target.port,
            "ansible_ssh_common_args": (
                "-o UserKnownHostsFile={{ inventory_dir }}/known_hosts -o StrictHostKeyChecking=yes"
            ),
        }
    )
    if target.user:
        host_vars["ansible_user"] = target.user
    return {"all": {"hosts": {target.name: host_vars}}}


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
