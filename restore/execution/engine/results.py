"""What a run takes and gives back: its options, each host's outcome, the run's result, and
the progress sink (Nornir's Processor) the CLI draws from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from restore.execution.journal import Event
from restore.models import RunState
from restore.planning.model import RestorePlan


class Processor(Protocol):
    """Progress sink (Nornir's idea): the engine reports, the CLI draws. No I/O required."""

    def run_started(self, run_id: str, plan: RestorePlan, resumed: bool) -> None: ...

    def event(self, event: Event) -> None: ...

    def run_finished(self, result: RunResult) -> None: ...


class NullProcessor:
    def run_started(self, run_id: str, plan: RestorePlan, resumed: bool) -> None:
        return None

    def event(self, event: Event) -> None:
        return None

    def run_finished(self, result: RunResult) -> None:
        return None


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    max_parallel: int = 1
    assume_yes: bool = False
    resume: bool = False
    winrm_insecure: bool = False
    run_id: str | None = None  # resume this run (default: the latest)


@dataclass(frozen=True)
class HostOutcome:
    host: str
    service: str
    state: str
    ok: bool
    verdict: str | None = None
    step: str | None = None
    message: str = ""
    needs_operator: bool = False


@dataclass(frozen=True)
class RunResult:
    run_id: str
    state: str  # succeeded | failed | needs_operator | interrupted
    hosts: tuple[HostOutcome, ...]
    head_hash: str
    dry_run: bool = False
    # a dry run's summary: where a real run would stop (approvals, reconnect-needs-clean...)
    gates: tuple[dict[str, str], ...] = ()

    @property
    def exit_code(self) -> int:
        return {RunState.SUCCEEDED: 0, RunState.INTERRUPTED: 130}.get(RunState(self.state), 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "dry_run": self.dry_run,
            "head_hash": self.head_hash,
            "gates": [dict(g) for g in self.gates],
            "hosts": [
                {
                    "host": h.host,
                    "service": h.service,
                    "state": h.state,
                    "step": h.step,
                    "verdict": h.verdict,
                    "message": h.message,
                }
                for h in self.hosts
            ],
        }
