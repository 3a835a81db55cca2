"""Frozen value types shared by every layer. Standard library only, no project imports.

Planning, execution and reporting exchange these immutable values, so that a plan can be
computed, printed and compared without touching the network.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


class Platform(enum.StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"


class Verdict(enum.StrEnum):
    """Integrity verdict of one host (DESIGN §4 `check` JSON)."""

    CLEAN = "clean"
    SUSPECT = "suspect"
    COMPROMISED = "compromised"
    UNREACHABLE = "unreachable"


class FindingStatus(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"


class Severity(enum.StrEnum):
    """How much a failed finding weighs in the verdict."""

    STRONG = "strong"  # ransom note, encrypted files, preload, modified binary, new UID 0
    DRIFT = "drift"  # differs from the baseline, no strong indicator
    INFO = "info"


class HostState(enum.StrEnum):
    """Host state machine (DESIGN §5)."""

    PENDING = "pending"
    QUARANTINED = "quarantined"
    COLLECTING_EVIDENCE = "collecting_evidence"
    CHECKING = "checking"
    CLEAN = "clean"
    SUSPECT = "suspect"
    COMPROMISED = "compromised"
    REIMAGING = "reimaging"
    REBUILDING = "rebuilding"
    VERIFYING = "verifying"
    AWAITING_APPROVAL = "awaiting_approval"
    RECONNECTED = "reconnected"
    RESTORED = "restored"  # every step succeeded and the host's steps have no `reconnect`
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # the run stopped (a signal, or it died) mid-host: resumable


TERMINAL_HOST_STATES = frozenset(
    {
        HostState.RECONNECTED,
        HostState.RESTORED,
        HostState.FAILED,
        HostState.BLOCKED,
        HostState.SKIPPED,
        HostState.INTERRUPTED,
    }
)
# The endings of a host whose run went as planned (or that an operator waived).
SUCCESSFUL_HOST_STATES = frozenset({HostState.RECONNECTED, HostState.RESTORED, HostState.SKIPPED})
# The endings of a host that is back in service (a waived host is not: JUnit fails it).
RETURNED_HOST_STATES = frozenset({HostState.RECONNECTED, HostState.RESTORED})


class RunState(enum.StrEnum):
    """A run's state in the journal's runs table and in `status` (DESIGN §4)."""

    RUNNING = "running"  # only while its process holds the state dir's lock
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NEEDS_OPERATOR = "needs_operator"
    INTERRUPTED = "interrupted"


# A run `--resume` continues (and that mark-done / retry / skip may target with no live run).
RESUMABLE_RUN_STATES = frozenset({RunState.NEEDS_OPERATOR, RunState.INTERRUPTED, RunState.FAILED})


class StepStatus(enum.StrEnum):
    """How one attempt at a step ended: the journal event that closes it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"  # a gate said no: retrying cannot help
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # the run was stopped (a signal) while the step ran


class EventKind(enum.StrEnum):
    """The `event` of a journal row (DESIGN §4 `journal export`)."""

    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    RUN_FINISHED = "run_finished"
    RUN_INTERRUPTED = "run_interrupted"
    STATE = "state"  # a host's state changed
    STARTED = "started"  # a step attempt began
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    NEEDS_OPERATOR = "needs_operator"
    APPROVED = "approved"  # operator decisions, each with by / reason / os_user / terminal
    REJECTED = "rejected"
    WAIVED = "waived"
    MARKED_DONE = "marked_done"
    RETRIED = "retried"


# Sets of event kinds that several modules read: defined once, here.
FAILED_STEP_EVENTS = frozenset({EventKind.FAILED, EventKind.TIMED_OUT, EventKind.REFUSED})
# A step whose last event is one of these did not finish: on --resume it runs again if
# idempotent, else an operator decides (mark-done / retry / skip).
UNFINISHED_STEP_EVENTS = FAILED_STEP_EVENTS | {EventKind.STARTED, EventKind.INTERRUPTED}
DONE_STEP_EVENTS = frozenset({EventKind.SUCCEEDED, EventKind.SKIPPED, EventKind.MARKED_DONE})
DECISION_EVENTS = frozenset({EventKind.WAIVED, EventKind.MARKED_DONE, EventKind.RETRIED})


class StepType(enum.StrEnum):
    EVIDENCE = "evidence"
    CHECK = "check"
    REIMAGE = "reimage"
    ANSIBLE = "ansible"
    SSH = "ssh"
    WINRM = "winrm"
    HEALTH = "health"
    APPROVE = "approve"
    RECONNECT = "reconnect"
    QUARANTINE = "quarantine"
    DIRECTORY = "directory"  # a domain controller's directory: `directory: rotate_krbtgt`


@dataclass(frozen=True)
class StepSpec:
    """One step of a service's runbook, as validated from the graph file.

    ``argument`` is the step's value: a playbook path (resolved), a command, a PowerShell
    script, a health probe mapping ``{"tcp": 8443}``, an approval message, or None.
    """

    type: StepType
    argument: Any = None
    name: str | None = None
    timeout_s: float | None = None
    retries: int = 0
    estimate_s: float | None = None
    platform: Platform | None = None
    idempotent: bool = True
    vars: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """Short human label: the explicit name, else type and argument."""
        if self.name:
            return self.name
        if self.argument is None:
            return self.type.value
        if isinstance(self.argument, dict):
            arg = ",".join(f"{k}={v}" for k, v in self.argument.items())
        else:
            arg = str(self.argument)
        if self.type is StepType.ANSIBLE:
            arg = Path(arg).name
        if len(arg) > 40:
            arg = arg[:37] + "..."
        return f"{self.type.value}: {arg}"


@dataclass(frozen=True)
class ServiceSpec:
    id: str
    name: str
    priority: int
    host_refs: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    rto_s: float | None = None
    max_parallel: int = 1
    steps: tuple[StepSpec, ...] | None = None  # None: default steps for each host's platform
    line: int | None = None


@dataclass(frozen=True)
class NetworkSpec:
    quarantine: Path | None = None
    reconnect: Path | None = None


@dataclass(frozen=True)
class GraphSpec:
    """A validated graph file (version 1)."""

    path: Path
    name: str
    services: tuple[ServiceSpec, ...]
    version: int = 1
    incident_declared_at: datetime | None = None
    playbook_dir: Path | None = None
    network: NetworkSpec = field(default_factory=NetworkSpec)
    # playbooks a rehearsal runs on its twins before the simulated attack (`rehearsal.seed`)
    rehearsal_seeds: tuple[Path, ...] = ()
    rehearsal_vault_password_file: Path | None = None  # the lab's, for rehearsals only

    def service(self, service_id: str) -> ServiceSpec:
        for svc in self.services:
            if svc.id == service_id:
                return svc
        raise KeyError(service_id)


@dataclass(frozen=True)
class Credential:
    """Where a host's secret comes from, never the secret itself.

    ``kind`` is ``key``, ``password`` or ``none``; ``reference`` names the source (a key file
    path or the inventory variable holding the password) and is safe to print.
    """

    kind: str
    reference: str | None = None


@dataclass(frozen=True)
class HostSpec:
    """One inventory host, as resolved by ansible-core's inventory machinery.

    ``connection_vars`` holds the non-secret variables transports need (known_hosts file,
    WinRM scheme, CA path...). Secrets stay in ``secret_vars`` which is excluded from repr
    and must never be written anywhere.
    """

    name: str
    platform: Platform
    address: str
    port: int
    user: str | None
    credential: Credential
    groups: tuple[str, ...] = ()
    connection_vars: tuple[tuple[str, Any], ...] = ()
    secret_vars: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    def var(self, name: str, default: Any = None) -> Any:
        for key, value in self.connection_vars:
            if key == name:
                return value
        return default

    def secret(self, name: str) -> str | None:
        for key, value in self.secret_vars:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Inventory:
    """Hosts in inventory order, and each group's members in inventory order."""

    source: str
    hosts: tuple[HostSpec, ...]
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def host(self, name: str) -> HostSpec:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def group(self, name: str) -> tuple[str, ...]:
        for group, members in self.groups:
            if group == name:
                return members
        raise KeyError(name)

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)


@dataclass(frozen=True)
class CommandOutput:
    """The result of one remote command. A non-zero rc is data, not an exception."""

    rc: int
    stdout: str
    stderr: str = ""
    duration_s: float = 0.0
    timed_out: bool = False
    # The host sent more than the control node's byte cap: the output is cut, never trusted.
    truncated: bool = False


@dataclass(frozen=True)
class Finding:
    """One check's result on one host, explained in one line (``detail``)."""

    check: str
    status: FindingStatus
    detail: str
    evidence: tuple[str, ...] = ()
    severity: Severity = Severity.INFO


@dataclass(frozen=True)
class HostCheckResult:
    host: str
    platform: Platform
    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    checked_at: datetime | None = None
