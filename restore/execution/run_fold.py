"""The one fold of a run's journal: events in, a typed view of the run out (pure).

The journal is the only state a run has, and four readers need it: the engine on `--resume`
(which steps are done, what operators decided), `restore status`, the live view during the
run, and the report. Each used to fold the events its own way, with its own idea of which
event ends a step or carries a verdict; they could disagree about the same journal. Here the
event vocabulary is read once: every other module reads `RunView` and `HostView`, never an
event name.

`RunFold` is incremental (the live view feeds it one event at a time, as the engine writes
them); `fold_run` folds a whole list. Both are pure: same events, same view, no clock read.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from restore.execution.journal_chain import Event
from restore.models import (
    DECISION_EVENTS,
    DONE_STEP_EVENTS,
    FAILED_STEP_EVENTS,
    SUCCESSFUL_HOST_STATES,
    UNFINISHED_STEP_EVENTS,
    EventKind,
    HostState,
)

# Events `last` remembers per step: what --resume and the operator commands decide from.
STEP_EVENTS = UNFINISHED_STEP_EVENTS | DONE_STEP_EVENTS
# Events that end an attempt at a step (a decision can end one too: waived, marked done).
CLOSING_EVENTS = frozenset(
    {
        EventKind.SUCCEEDED,
        EventKind.FAILED,
        EventKind.SKIPPED,
        EventKind.WAIVED,
        EventKind.TIMED_OUT,
        EventKind.REFUSED,
        EventKind.MARKED_DONE,
        EventKind.INTERRUPTED,  # cut by a stop signal (SIGINT/SIGTERM/SIGHUP)
    }
)
# A person's decisions as the report lists them: today's names, an engine skip, and the
# names journals of earlier versions used.
OPERATOR_EVENTS = DECISION_EVENTS | {
    EventKind.APPROVED,
    EventKind.SKIPPED,
    "mark_done",
    "retry",
    "overridden",
}
# Host states after which nothing more happens to the host in this run (interrupted is not
# one: --resume continues it).
FINISHED_HOST_STATES = SUCCESSFUL_HOST_STATES | {HostState.FAILED, HostState.BLOCKED}
# Step outcomes that count as a failure of the step (a report's red line, a JUnit failure).
FAILED_STEP_STATUSES = FAILED_STEP_EVENTS
SKIPPED_STEP_STATUSES = frozenset({EventKind.SKIPPED, EventKind.WAIVED})
RUNNING = "running"  # the status of an attempt whose end is not journaled (yet)
REHEARSAL_EVENT = "rehearsal"  # a rehearsal's simulated attack, journaled by rehearse


class Change(enum.StrEnum):
    """What one row changed, for readers that react to rows as they come (the live view's
    line mode): the row's kind, classified here so no reader names events."""

    RUN = "run"  # the run started, resumed, was interrupted, finished...
    HOST_STATE = "host_state"  # a host moved on (and is not finished)
    HOST_FINISHED = "host_finished"  # a host reached a FINISHED_HOST_STATES state
    STEP_STARTED = "step_started"
    STEP_ENDED = "step_ended"
    DECISION = "decision"  # an operator's decision that ended no step (an approval, a retry)
    OTHER = "other"


def parse_ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass
class StepResult:
    """One attempt at a step, from its `started` row to the row that ended it."""

    host: str
    step: str
    status: str  # "running", or the event that ended it (succeeded, failed, waived...)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # the ending row's detail
    type: str = ""  # the step type, as the started row said
    attempt: int = 1
    timeout_s: float | None = None
    dry_run: bool = False
    ended_seq: int = 0  # the fold's count when it ended (orders endings across attempts)

    @property
    def failed(self) -> bool:
        """Failed, timed out, refused, or never ended (the run died under it)."""
        return self.status in FAILED_STEP_STATUSES or self.status == RUNNING

    @property
    def skipped(self) -> bool:
        return self.status in SKIPPED_STEP_STATUSES


@dataclass(frozen=True)
class Decision:
    """An operator's decision (or the engine's skip of a waived step) as journaled."""

    ts: str
    host: str | None
    step: str | None
    kind: str
    by: Any
    reason: Any


@dataclass(frozen=True)
class CheckVerdict:
    """What a check step concluded, with the findings behind it."""

    ts: str
    host: str
    verdict: str
    findings: tuple[Any, ...]


@dataclass(frozen=True)
class StepFailure:
    ts: str
    host: str
    step: str
    status: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class Interruption:
    ts: str
    signal: Any
    message: Any


@dataclass
class HostView:
    """One host as the journal tells it. The engine keeps a copy per host and moves
    `current_step` as it goes; every other reader only reads."""

    host: str
    service: str | None = None
    state: str = HostState.PENDING.value
    current_step: str | None = None  # the last step started
    verdict: str | None = None  # what its latest check concluded
    last: dict[str, str] = field(default_factory=dict)  # step key -> last step event/decision
    decision: dict[str, dict[str, Any]] = field(default_factory=dict)  # step key -> detail
    host_waived: dict[str, Any] | None = None  # an operator skipped the whole host
    steps: list[StepResult] = field(default_factory=list)  # every attempt, in start order
    latest: StepResult | None = None  # the attempt started last (kept once it ended)
    running: StepResult | None = None  # the attempt running now, for the live process
    first_at: datetime | None = None  # its earliest and latest rows
    last_at: datetime | None = None
    finished_at: datetime | None = None  # when it reached a FINISHED_HOST_STATES state
    note: str = ""  # the latest reason or failure message journaled for it
    note_seq: int = 0  # the fold's count when `note` was set (orders it against live news)
    seen: int | None = None  # position of the first row that names it (journal order)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_HOST_STATES

    def done_steps(self) -> list[StepResult]:
        """Its steps that succeeded, were skipped or marked done, in the order they ended:
        what the gates' facts are made of on --resume."""
        done = [s for s in self.steps if s.status in DONE_STEP_EVENTS]
        return sorted(done, key=lambda s: s.ended_seq)

    @property
    def back(self) -> bool:
        """Back in service, or waived by an operator: its service can count it."""
        return self.state in SUCCESSFUL_HOST_STATES


@dataclass
class RunView:
    """A run as its journal tells it."""

    run_id: str | None = None
    hosts: dict[str, HostView] = field(default_factory=dict)  # planned hosts first
    state: str | None = None  # what its last run_finished / run_interrupted row said
    started_at: datetime | None = None  # its earliest and latest rows
    ended_at: datetime | None = None
    plan: dict[str, Any] | None = None  # the run_started row's detail (None: no such row)
    resumes: int = 0
    interruptions: list[Interruption] = field(default_factory=list)
    simulated_incident_at: datetime | None = None  # a rehearsal's simulated attack
    decisions: list[Decision] = field(default_factory=list)
    verdicts: list[CheckVerdict] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    failures: list[StepFailure] = field(default_factory=list)
    log: list[Event] = field(default_factory=list)  # every row, in journal order
    applied: int = 0  # rows folded so far

    def journal_hosts(self) -> list[HostView]:
        """Hosts that have at least one row of their own, in the order they first appear."""
        named = [h for h in self.hosts.values() if h.seen is not None]
        return sorted(named, key=lambda h: h.seen or 0)


class RunFold:
    """Folds rows into a RunView, one at a time, in journal order."""

    def __init__(self) -> None:
        self.view = RunView()
        # (host, step key) -> its attempt started and not ended yet; a later start of the
        # same step (after a crash) takes the key over, the older one stays "running"
        self._open: dict[tuple[str, str], StepResult] = {}

    def apply(self, event: Event) -> Change:
        """Fold one row; say what kind of change it was."""
        view = self.view
        view.applied += 1
        view.log.append(event)
        view.run_id = view.run_id or event.run_id
        moment = parse_ts(event.ts)
        if moment is not None:
            view.started_at = min(view.started_at or moment, moment)
            view.ended_at = max(view.ended_at or moment, moment)
        if event.event in OPERATOR_EVENTS:
            view.decisions.append(
                Decision(
                    event.ts,
                    event.host,
                    event.step or None,
                    event.event,
                    event.detail.get("by"),
                    event.detail.get("reason"),
                )
            )
        if not event.host:
            self._run_event(event)
            return Change.RUN
        record = self._host(event)
        self._host_event(record, event, moment)
        if isinstance(event.detail.get("state"), str):
            return Change.HOST_FINISHED if record.finished else Change.HOST_STATE
        if event.step and event.event == EventKind.STARTED:
            return Change.STEP_STARTED
        if event.step and event.event in CLOSING_EVENTS:
            return Change.STEP_ENDED
        return Change.DECISION if event.event in OPERATOR_EVENTS else Change.OTHER

    def _host(self, event: Event) -> HostView:
        assert event.host
        record = self.view.hosts.get(event.host)
        if record is None:
            record = self.view.hosts[event.host] = HostView(event.host, event.service)
        record.service = record.service or event.service
        if record.seen is None:
            record.seen = self.view.applied
        return record

    def _run_event(self, event: Event) -> None:
        view = self.view
        if event.event == EventKind.RUN_STARTED:
            if view.plan is None:  # one per run; the first is the plan the run began with
                view.plan = dict(event.detail)
            view.state = None
            for item in event.detail.get("hosts") or []:
                if isinstance(item, Mapping) and item.get("host"):
                    name = str(item["host"])
                    view.hosts.setdefault(name, HostView(name, item.get("service")))
        elif event.event in {EventKind.RUN_RESUMED, EventKind.RUN_INTERRUPTED}:
            for record in view.hosts.values():  # whatever ran in that process ran no more
                record.running = None
            if event.event == EventKind.RUN_RESUMED:
                view.resumes += 1
                view.state = None
            else:
                view.state = HostState.INTERRUPTED.value
                view.interruptions.append(
                    Interruption(event.ts, event.detail.get("signal"), event.detail.get("message"))
                )
        elif event.event == EventKind.RUN_FINISHED and isinstance(event.detail.get("state"), str):
            view.state = event.detail["state"]
        elif event.event == REHEARSAL_EVENT and event.detail.get("simulated_incident_at"):
            view.simulated_incident_at = parse_ts(event.detail["simulated_incident_at"])

    def _host_event(self, record: HostView, event: Event, moment: datetime | None) -> None:
        detail = event.detail
        if moment is not None:
            record.first_at = min(record.first_at or moment, moment)
            record.last_at = max(record.last_at or moment, moment)
        # the engine's `state` rows; a host row of another kind that names a state counts too
        # (journals written by hand for tests and drills do that)
        if isinstance(detail.get("state"), str):
            record.state = detail["state"]
            if record.finished:
                record.finished_at = moment
                record.running = None
            if detail.get("reason"):
                self._note(record, str(detail["reason"]))
        for item in detail.get("evidence_items") or detail.get("items") or []:
            if isinstance(item, dict):
                self.view.evidence.append({"host": event.host, **item})
        if event.step:
            self._step_event(record, event, moment)
        elif event.event == EventKind.WAIVED:
            record.host_waived = dict(detail)

    def _step_event(self, record: HostView, event: Event, moment: datetime | None) -> None:
        kind, key, detail = event.event, str(event.step), event.detail
        if kind in STEP_EVENTS or kind in DECISION_EVENTS:
            record.last[key] = kind
        if kind in DECISION_EVENTS:
            record.decision[key] = dict(detail)
        # a verdict is what a check step concluded (state and refusal rows only repeat it)
        if detail.get("verdict") and kind in {EventKind.SUCCEEDED, EventKind.FAILED}:
            record.verdict = str(detail["verdict"])
            findings = tuple(detail.get("findings") or ())
            self.view.verdicts.append(CheckVerdict(event.ts, record.host, record.verdict, findings))
        if kind in FAILED_STEP_EVENTS:
            self.view.failures.append(StepFailure(event.ts, record.host, key, kind, detail))
        if kind == EventKind.STARTED:
            self._started(record, key, detail, moment)
        elif kind in CLOSING_EVENTS:
            self._closed(record, key, kind, detail, moment)

    def _started(
        self, record: HostView, key: str, detail: Mapping[str, Any], moment: datetime | None
    ) -> None:
        attempt = StepResult(
            record.host,
            key,
            RUNNING,
            started_at=moment,
            type=str(detail.get("type", "")),
            attempt=int(_number(detail.get("attempt")) or 1),
            timeout_s=_number(detail.get("timeout_s")),
            dry_run=bool(detail.get("dry_run")),
        )
        record.steps.append(attempt)
        self._open[record.host, key] = attempt
        record.current_step = key
        record.latest = record.running = attempt
        if attempt.attempt == 1:
            self._note(record, "")

    def _closed(
        self,
        record: HostView,
        key: str,
        kind: str,
        detail: Mapping[str, Any],
        moment: datetime | None,
    ) -> None:
        attempt = self._open.pop((record.host, key), None)
        if attempt is None:  # ended without a start of its own (a decision, an old journal)
            attempt = StepResult(record.host, key, kind, started_at=moment)
            record.steps.append(attempt)
        attempt.status = kind
        attempt.ended_at = moment
        attempt.ended_seq = self.view.applied
        attempt.detail = dict(detail)
        if record.running is attempt:
            record.running = None
        message = detail.get("message") or detail.get("error")
        if kind != EventKind.SUCCEEDED and message:
            self._note(record, str(message))

    def _note(self, record: HostView, text: str) -> None:
        record.note = text
        record.note_seq = self.view.applied


def fold_run(events: Iterable[Event]) -> RunView:
    """The view of a run from its rows, in journal order."""
    fold = RunFold()
    for event in events:
        fold.apply(event)
    return fold.view


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
