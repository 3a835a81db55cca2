"""Event writing: every state change of a run is one journal row, and the same row goes to
the progress sink, so that the live view shows exactly what the journal holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from restore import logs
from restore.execution.engine.results import HostOutcome, Processor
from restore.execution.journal import Event, Journal
from restore.execution.run_state import HostReplay
from restore.execution.steps.base import HostFacts
from restore.models import HostState
from restore.planning.model import PlannedHost

log = logs.logger(__name__)


@dataclass
class HostRun:
    """One host during a run: its plan, what the journal said of it at the start, the facts
    the gates read, and its current state."""

    planned: PlannedHost
    replayed: HostReplay
    facts: HostFacts
    state: str = HostState.PENDING.value

    def outcome(self, ok: bool, message: str = "", needs_operator: bool = False) -> HostOutcome:
        verdict = self.facts.verdict.value if self.facts.verdict else self.replayed.verdict
        return HostOutcome(
            self.planned.name,
            self.planned.service,
            self.state,
            ok,
            verdict,
            self.replayed.current_step,
            message,
            needs_operator,
        )


class Recorder:
    """Appends a run's events to the journal and hands each row to the processor."""

    def __init__(self, journal: Journal, processor: Processor) -> None:
        self.journal = journal
        self.processor = processor
        self.run_id = ""  # set once the run is opened (restore.execution.engine.opening)

    def record(
        self,
        event: str,
        *,
        host: PlannedHost | None = None,
        step: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Event:
        row = self.journal.append(
            self.run_id,
            event,
            host=host.name if host else None,
            service=host.service if host else None,
            step=step,
            detail=detail,
        )
        log.debug(
            "journal %s %s %s %s %s",
            row.seq,
            row.event,
            row.host or "-",
            row.step or "-",
            row.detail,
        )
        self.processor.event(row)
        return row

    def set_state(self, run: HostRun, state: HostState | str, **detail: Any) -> None:
        value = HostState(state).value
        if value == run.state and not detail:
            return
        run.state = value
        self.record("state", host=run.planned, detail={"state": value, **detail})
