"""The ansible-runner adapter: the only module that imports ansible_runner.

Why an adapter: a step needs one call that runs a playbook on exactly one host, in check mode
for a dry run, with a hard deadline, reporting progress from the event stream and deciding
success from status/rc/stats (never by reading stdout), and that leaves no secret behind in
ansible-runner's artifacts directory. ansible-runner writes extravars to `env/extravars`,
echoes task results into `job_events/` and `stdout`, and records the job's environment in
`command`; all are scrubbed after every run (restore.secrets masks every known secret). A job
gets only the environment Ansible needs (restore.secrets.job_environment) and the user's
vault password files (restore.secrets.playbook_vault_args), never a password in clear.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_runner.interface import init_runner

from restore.ansible import runner_patch
from restore.ansible.failures import failure_text, play_error, task_failure
from restore.ansible.request import PlaybookRequest, ProgressFn
from restore.secrets import (
    REDACTED,
    playbook_vault_args,
    redact,
    redact_text,
)
from restore.secrets import (
    job_environment as allowed_environment,
)

# ansible-runner sets ANSIBLE_HOST_KEY_CHECKING=False unless told otherwise: a recovery tool
# that skips host-key checks would hand a rebuilt host's credentials to an impostor.
ANSIBLE_ENV = {
    "ANSIBLE_HOST_KEY_CHECKING": "True",
    "ANSIBLE_RETRY_FILES_ENABLED": "False",
    "ANSIBLE_NOCOLOR": "True",
    "ANSIBLE_DEPRECATION_WARNINGS": "False",
    "ANSIBLE_LOCALHOST_WARNING": "False",
}
# The inventory loader (restore.inputs.inventory) sets these in this process unless the operator
# did; passing them explicitly keeps every job's environment the same whether or not the inventory
# was loaded yet, which is what lets the prefork server's jobs start warm.
_DEFAULTS = {
    "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
}


@dataclass(frozen=True)
class PlaybookResult:
    """What a playbook run did, decided from runner status, rc and per-host stats."""

    status: str  # successful | failed | timeout | canceled | error
    rc: int | None
    host: str
    stats: dict[str, int] = field(default_factory=dict)
    failed_tasks: tuple[str, ...] = ()
    duration_s: float = 0.0
    artifacts: str = ""
    message: str = ""
    # one entry per failed task, from its runner_on_failed/unreachable event (task_failure)
    failures: tuple[dict[str, Any], ...] = ()
    # what the play recorded with ansible.builtin.set_stats (e.g. restore_data's snapshot
    # choice), journaled with the step
    custom_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        # The host must also appear in the stats: a --limit that matched nothing exits 0.
        return (
            self.status == "successful"
            and self.rc == 0
            and self.stats.get("failures", 0) == 0
            and self.stats.get("dark", 0) == 0
            and bool(self.stats)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "rc": self.rc,
            "stats": self.stats,
            "failed_tasks": list(self.failed_tasks),
            "duration_s": round(self.duration_s, 3),
            "artifacts": self.artifacts,
            "message": self.message,
            "failures": [dict(f) for f in self.failures],
            **({"custom_stats": self.custom_stats} if self.custom_stats else {}),
        }


def run_playbook(
    request: PlaybookRequest, *, launch_env: Mapping[str, str] | None = None
) -> PlaybookResult:
    """Run the request's playbook limited to its host; never raises for a failed play (that is
    data).

    `launch_env` comes from the run's `PreforkAnsible`: it makes "ansible-playbook" the warm,
    forked one. Arguments, artifacts and events are the same either way."""
    runner_patch.install()  # a timed-out job must lose its whole tree, not only its group
    work_dir, host, timeout_s = request.work_dir, request.host, request.timeout_s
    work_dir.mkdir(parents=True, exist_ok=True)
    known_secrets = request.known_secrets()
    events = _PlayEvents(known_secrets, request.progress)
    started = time.monotonic()

    def cancelled() -> bool:
        overdue = timeout_s is not None and time.monotonic() - started > timeout_s
        return overdue or (request.cancel is not None and request.cancel.is_set())

    try:
        runner = init_runner(**_runner_arguments(request, launch_env, events, cancelled))
        # ansible-runner seeds the job with this whole process's environment and records it
        # in the artifacts: the job gets only what Ansible needs.
        runner.config.env = allowed_environment(runner.config.env)
        runner.run()
    except Exception as exc:  # ansible-runner raises for a missing playbook dir and the like
        scrub_artifacts(work_dir, known_secrets)
        return PlaybookResult(
            "error", None, host, duration_s=time.monotonic() - started, message=str(exc)
        )
    status = str(runner.status)
    if status == "canceled" and timeout_s is not None and time.monotonic() - started > timeout_s:
        status = "timeout"
    stats = host_stats(runner.stats, host)
    artifacts = str(getattr(runner.config, "artifact_dir", work_dir))
    scrub_artifacts(work_dir, known_secrets)
    failures = events.failures
    if not failures and status != "successful":
        failures = events.errors[:1]
    return PlaybookResult(
        status=status,
        rc=runner.rc,
        host=host,
        stats=stats,
        failed_tasks=tuple(events.failed_tasks),
        duration_s=time.monotonic() - started,
        artifacts=artifacts,
        message=redact_text(
            ("check mode (nothing changed): " if request.check else "")
            + f"{status}, rc={runner.rc}"
            + (f": {failure_text(failures[0])}" if failures else ""),
            known_secrets,
        ),
        failures=tuple(failures),
        custom_stats=redact(events.recorded, known_secrets),
    )


@dataclass
class _PlayEvents:
    """What the play's events said: failed tasks, errors outside any task, custom stats (each
    masked of the request's secrets), and the task names for the progress line."""

    known_secrets: list[str]
    progress: ProgressFn | None
    failed_tasks: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # the explanation when none failed
    recorded: dict[str, Any] = field(default_factory=dict)

    def on_event(self, event: Mapping[str, Any]) -> bool:
        data = event.get("event_data") or {}
        kind = str(event.get("event", ""))
        failure = task_failure(event)
        if failure is not None:
            self.failures.append(redact(failure, self.known_secrets))
            prefix = "unreachable: " if failure["unreachable"] else ""
            self.failed_tasks.append(prefix + str(failure["task"]))
        elif (error := play_error(event)) is not None:
            self.errors.append(redact(error, self.known_secrets))
        self.recorded.update(custom_stats(event))
        if self.progress is not None and kind in {"playbook_on_task_start", "runner_on_failed"}:
            self.progress(str(data.get("task", kind)))
        return True  # keep the event in job_events (scrubbed below)


def _runner_arguments(
    request: PlaybookRequest,
    launch_env: Mapping[str, str] | None,
    events: _PlayEvents,
    cancelled: Callable[[], bool],
) -> dict[str, Any]:
    """ansible-runner's `init_runner` arguments for the request."""
    options = [*(["--check", "--diff"] if request.check else []), *playbook_vault_args()]
    timeout_s = request.timeout_s
    return {
        "private_data_dir": str(request.work_dir),
        "playbook": str(Path(request.playbook).resolve()),
        # every -i in order: ansible-playbook merges them as `-i A -i B` does
        "inventory": list(request.inventories),
        "limit": request.host,
        "extravars": request.play_vars(),
        "cmdline": shlex.join(options) if options else None,
        "envvars": {**_environment(), **(launch_env or {})},
        "quiet": True,
        "event_handler": events.on_event,
        "cancel_callback": cancelled,
        "timeout": int(timeout_s) + 1 if timeout_s else None,
        "suppress_env_files": False,
    }


def custom_stats(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the play gave ansible.builtin.set_stats (aggregated), from its stats event."""
    if event.get("event") != "playbook_on_stats":
        return {}
    data = (event.get("event_data") or {}).get("artifact_data")
    return dict(data) if isinstance(data, Mapping) else {}


def job_environment(launch_env: Mapping[str, str]) -> dict[str, str]:
    """The environment ansible-runner gives a playbook job, as ansible-runner itself builds it
    for a throwaway job: what the prefork server primes itself with."""
    from ansible_runner.config.runner import RunnerConfig

    scratch = Path(tempfile.mkdtemp(prefix="restore-runner-env-"))
    try:
        (scratch / "prime.yml").write_text("[]\n")
        config = RunnerConfig(
            private_data_dir=str(scratch),
            playbook=str(scratch / "prime.yml"),
            envvars={**_environment(), **launch_env},
            suppress_env_files=False,
        )
        config.prepare()
        return allowed_environment({str(k): str(v) for k, v in config.env.items()})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _environment() -> dict[str, str]:
    # ansible-playbook lives next to this interpreter (the venv), which may not be on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    defaults = {name: os.environ.get(name, value) for name, value in _DEFAULTS.items()}
    return {**defaults, **ANSIBLE_ENV, "PATH": path}


def host_stats(stats: Mapping[str, Any] | None, host: str) -> dict[str, int]:
    """Per-host counters from the playbook_on_stats event: ok, changed, failures, dark..."""
    if not stats:
        return {}
    result: dict[str, int] = {}
    for key in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored"):
        per_host = stats.get(key) or {}
        if host in per_host:
            result[key] = int(per_host[host])
    if result:
        for key in ("ok", "changed", "failures", "dark", "skipped"):
            result.setdefault(key, 0)
    return result


def scrub_artifacts(work_dir: Path, secrets: Iterable[str]) -> None:
    """Remove every file that may hold a secret and redact known secret values in the rest.

    `env/` holds extravars, passwords, ssh_key and envvars as ansible-runner was given them;
    nobody needs them after the run. Event files and stdout keep their value for an
    investigator once secrets are replaced by ``***``.
    """
    known = [s for s in secrets if s]
    env = work_dir / "env"
    if env.exists():
        shutil.rmtree(env, ignore_errors=True)
    for path in work_dir.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        if path.name in {"ssh_key_data", "passwords", "ssh_key"}:
            path.unlink(missing_ok=True)
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        cleaned = _scrub_text(path, text, known)
        if cleaned != text:
            path.write_text(cleaned)


def _scrub_text(path: Path, text: str, secrets: list[str]) -> str:
    if path.name == "command":  # {command, cwd, env}: the job's recorded environment
        try:
            data = json.loads(text)
        except ValueError:
            return redact_text(text, secrets)
        if isinstance(data, dict) and isinstance(data.get("env"), dict):
            data["env"] = allowed_environment({str(k): str(v) for k, v in data["env"].items()})
        return json.dumps(redact(data, secrets))
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            return redact_text(text, secrets)
        cleaned = redact(data, secrets)
        return text if cleaned == data else json.dumps(cleaned)
    return redact_text(text, secrets)


__all__ = [
    "ANSIBLE_ENV",
    "REDACTED",
    "PlaybookRequest",
    "PlaybookResult",
    "ProgressFn",
    "custom_stats",
    "host_stats",
    "run_playbook",
    "scrub_artifacts",
]
