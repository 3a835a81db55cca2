"""The engine's and the operator commands' reading of the one fold (restore.execution.run_fold).

The journal is the only state a run has: `restore status` reads it, and `--resume` after a
kill -9 reads it to know which steps already succeeded (never run again), which were started
and not finished (run again if idempotent, else ask an operator), and what the gates need
(latest verdict, evidence collected or waived).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from restore.execution.journal import Event
from restore.execution.run_fold import STEP_EVENTS as STEP_EVENTS
from restore.execution.run_fold import HostView, fold_run
from restore.execution.steps.base import HostFacts
from restore.models import (
    DECISION_EVENTS,
    DONE_STEP_EVENTS,
    UNFINISHED_STEP_EVENTS,
    StepSpec,
    StepType,
    Verdict,
)

# A step whose last event is one of these did not finish: on --resume it runs again if
# idempotent, else an operator decides (mark-done / retry / skip).
UNFINISHED = UNFINISHED_STEP_EVENTS
DECISIONS = DECISION_EVENTS
DONE = DONE_STEP_EVENTS


def step_key(index: int, step: StepSpec) -> str:
    """A step's name in the journal: 1-based position and label ("4:check")."""
    return f"{index}:{step.label}"


# The engine's and the operator commands' view of a host: the one fold's (run_fold.HostView).
HostReplay = HostView


def replay(events: Iterable[Event]) -> dict[str, HostReplay]:
    """Every host of the run as the journal tells it (planned hosts first)."""
    return fold_run(events).hosts


def facts_after(step: StepSpec, status: str, detail: Mapping[str, Any], facts: HostFacts) -> None:
    """What a finished step changes in the gates' view of the host (live and on replay)."""
    if step.type is StepType.CHECK and status == "succeeded" and detail.get("verdict"):
        facts.verdict = Verdict(str(detail["verdict"]))
    elif step.type is StepType.EVIDENCE:
        if status == "succeeded" and detail.get("dry_run"):
            facts.evidence_planned = True
        elif status == "succeeded":
            facts.evidence_collected = True
        elif status in {"skipped", "marked_done"}:
            facts.evidence_waived = True
    elif step.type is StepType.REIMAGE and status in {"succeeded", "marked_done"}:
        facts.reimaged = True
        facts.verdict = None


def replay_facts(steps: Sequence[StepSpec], events: Iterable[Event], host: str) -> HostFacts:
    """The gates' facts from a host's finished steps, in the order they finished."""
    by_key = {step_key(i, s): s for i, s in enumerate(steps, 1)}
    facts = HostFacts()
    record = fold_run(events).hosts.get(host)
    for attempt in record.done_steps() if record is not None else ():
        if attempt.step in by_key:
            facts_after(by_key[attempt.step], attempt.status, attempt.detail, facts)
    return facts
