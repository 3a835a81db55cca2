"""Rebuild a run's state from its journal events alone (pure).

The journal is the only state a run has: `restore status` reads it, and `--resume` after a
kill -9 reads it to know which steps already succeeded (never run again), which were started
and not finished (run again if idempotent, else ask an operator), and what the gates need
(latest verdict, evidence collected or waived).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from restore.execution.journal import Event
from restore.execution.steps.base import HostFacts
from restore.models import (
    DECISION_EVENTS,
    DONE_STEP_EVENTS,
    UNFINISHED_STEP_EVENTS,
    StepSpec,
    StepType,
    Verdict,
)

STEP_EVENTS = UNFINISHED_STEP_EVENTS | DONE_STEP_EVENTS
# A step whose last event is one of these did not finish: on --resume it runs again if
# idempotent, else an operator decides (mark-done / retry / skip).
UNFINISHED = UNFINISHED_STEP_EVENTS
DECISIONS = DECISION_EVENTS
DONE = DONE_STEP_EVENTS


def step_key(index: int, step: StepSpec) -> str:
    """A step's name in the journal: 1-based position and label ("4:check")."""
    return f"{index}:{step.label}"


@dataclass
class HostReplay:
    host: str
    service: str | None = None
    state: str = "pending"
    current_step: str | None = None
    verdict: str | None = None
    last: dict[str, str] = field(default_factory=dict)  # step key -> last step event/decision
    decision: dict[str, dict[str, Any]] = field(default_factory=dict)  # step key -> detail
    host_waived: dict[str, Any] | None = None


def replay(events: Iterable[Event]) -> dict[str, HostReplay]:
    hosts: dict[str, HostReplay] = {}
    for event in events:
        if event.event == "run_started":
            for item in event.detail.get("hosts") or []:
                hosts.setdefault(item["host"], HostReplay(item["host"], item.get("service")))
            continue
        if not event.host:
            continue
        record = hosts.setdefault(event.host, HostReplay(event.host, event.service))
        record.service = record.service or event.service
        if event.event == "state" and isinstance(event.detail.get("state"), str):
            record.state = event.detail["state"]
        if event.detail.get("verdict"):
            record.verdict = str(event.detail["verdict"])
        if event.step is None:
            if event.event == "waived":
                record.host_waived = dict(event.detail)
            continue
        if event.event in STEP_EVENTS or event.event in DECISIONS:
            record.last[event.step] = event.event
        if event.event in DECISIONS:
            record.decision[event.step] = dict(event.detail)
        if event.event == "started":
            record.current_step = event.step
    return hosts


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
    """The gates' facts from a host's finished steps, in journal order."""
    by_key = {step_key(i, s): s for i, s in enumerate(steps, 1)}
    facts = HostFacts()
    for event in events:
        if event.host != host or event.step not in by_key:
            continue
        if event.event in {"succeeded", "skipped", "marked_done"}:
            facts_after(by_key[event.step], event.event, event.detail, facts)
    return facts
