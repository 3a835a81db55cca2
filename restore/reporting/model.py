"""The recovery report's numbers, computed from journal events alone (pure).

Everything the crisis cell, the investigators and the data-protection officer read comes from
the hash-chained journal: the report never keeps a number of its own. Input is the list of
events as `restore journal export` gives them (DESIGN §4) plus what the graph says about each
service (name, priority, RTO) and the incident start.

Event vocabulary read here: `event` is started / succeeded / failed / skipped / waived /
approved / blocked / timed_out / ... on a `step` of a `host`; `detail` may carry `verdict` and
`findings` (check steps), `evidence` items (evidence steps), `by` and `reason` (operator
decisions), `state` (host state changes, event `state`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from restore.ansible.failures import step_failure_text
from restore.models import DECISION_EVENTS, FAILED_STEP_EVENTS, SUCCESSFUL_HOST_STATES, EventKind

# Today's decision events, and the names journals of earlier versions used for them.
OPERATOR_EVENTS = DECISION_EVENTS | {
    EventKind.APPROVED,
    EventKind.SKIPPED,
    "mark_done",
    "retry",
    "overridden",
}
# A host in one of these states is back (or waived by an operator): its service can count it.
HOST_BACK_STATES = SUCCESSFUL_HOST_STATES


@dataclass(frozen=True)
class ServiceInfo:
    id: str
    name: str
    priority: int
    rto_s: float | None
    hosts: tuple[str, ...]


@dataclass
class StepRecord:
    host: str
    step: str
    status: str
    started_s: float | None = None
    ended_s: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class HostRecord:
    host: str
    service: str
    state: str = "pending"
    started_s: float | None = None
    ended_s: float | None = None
    verdict: str | None = None
    steps: list[StepRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceOutcome:
    id: str
    name: str
    priority: int
    rto_s: float | None
    restored_s: float | None  # from the run's start
    restored_since_incident_s: float | None
    met_rto: bool | None


@dataclass(frozen=True)
class RecoveryReport:
    run_id: str
    graph_name: str
    run_started: datetime | None
    run_ended: datetime | None
    incident_at: datetime | None
    hosts: tuple[HostRecord, ...]
    services: tuple[ServiceOutcome, ...]
    verdicts: tuple[dict[str, Any], ...]
    evidence: tuple[dict[str, Any], ...]
    decisions: tuple[dict[str, Any], ...]
    main_courante: tuple[dict[str, Any], ...]
    head_hash: str | None
    chain_ok: bool | None
    # every failed, timed-out or refused step, with the failing task when Ansible named it
    failures: tuple[dict[str, Any], ...] = ()
    # what the reader must know about the report's sources (e.g. the graph file changed)
    notes: tuple[str, ...] = ()
    # the snapshot each scanned data restore chose and rejected (reporting.restore_points)
    restore_points: tuple[dict[str, Any], ...] = ()

    @property
    def outcome(self) -> str:
        states = {h.state for h in self.hosts}
        if not self.hosts:
            return "empty"
        if states <= HOST_BACK_STATES:
            return "succeeded"
        return "failed"


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def build_report(
    events: Sequence[Mapping[str, Any]],
    services: Sequence[ServiceInfo],
    *,
    run_id: str,
    graph_name: str,
    incident_at: datetime | None = None,
    head_hash: str | None = None,
    chain_ok: bool | None = None,
    notes: Sequence[str] = (),
) -> RecoveryReport:
    ordered = sorted(events, key=lambda e: int(e.get("seq", 0)))
    stamps = [t for t in (_ts(e.get("ts")) for e in ordered) if t is not None]
    start = min(stamps) if stamps else None
    end = max(stamps) if stamps else None

    def offset(event: Mapping[str, Any]) -> float | None:
        moment = _ts(event.get("ts"))
        return (moment - start).total_seconds() if moment and start else None

    service_of = {h: s.id for s in services for h in s.hosts}
    hosts: dict[str, HostRecord] = {}
    open_steps: dict[tuple[str, str], StepRecord] = {}
    verdicts: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    courante: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for event in ordered:
        kind = str(event.get("event", ""))
        host_name = event.get("host")
        step = str(event.get("step") or "")
        detail = event.get("detail") or {}
        if not isinstance(detail, dict):
            detail = {"text": str(detail)}
        at = offset(event)
        courante.append(
            {
                "seq": event.get("seq"),
                "ts": event.get("ts"),
                "host": host_name,
                "service": event.get("service"),
                "step": step or None,
                "event": kind,
                "by": detail.get("by"),
                "summary": _summary(kind, detail),
            }
        )
        if kind in OPERATOR_EVENTS:
            decisions.append(
                {
                    "ts": event.get("ts"),
                    "host": host_name,
                    "step": step or None,
                    "decision": kind,
                    "by": detail.get("by"),
                    "reason": detail.get("reason"),
                }
            )
        if not host_name:
            continue
        if step and kind in FAILED_STEP_EVENTS:
            failures.append(_failure(event, kind, detail))
        record = hosts.setdefault(
            str(host_name),
            HostRecord(
                host=str(host_name),
                service=str(event.get("service") or service_of.get(str(host_name), "")),
            ),
        )
        if at is not None:
            record.started_s = at if record.started_s is None else min(record.started_s, at)
            record.ended_s = at if record.ended_s is None else max(record.ended_s, at)
        if isinstance(detail.get("state"), str):
            record.state = detail["state"]
        # a verdict is what a check step concluded (state rows repeat it; evidence only observes)
        if detail.get("verdict") and step and kind in {"succeeded", "failed"}:
            record.verdict = str(detail["verdict"])
            verdicts.append(
                {
                    "ts": event.get("ts"),
                    "host": host_name,
                    "verdict": detail["verdict"],
                    "findings": list(detail.get("findings") or []),
                }
            )
        for item in detail.get("evidence_items") or detail.get("items") or []:
            if isinstance(item, dict):
                evidence.append({"host": host_name, **item})
        if step:
            key = (str(host_name), step)
            if kind == "started":
                open_steps[key] = StepRecord(str(host_name), step, "running", started_s=at)
                record.steps.append(open_steps[key])
            elif kind in {
                "succeeded",
                "failed",
                "skipped",
                "waived",
                "timed_out",
                "refused",
                "marked_done",
                "interrupted",  # cut by a stop signal (SIGINT/SIGTERM/SIGHUP)
            }:
                step_record = open_steps.pop(key, None)
                if step_record is None:
                    step_record = StepRecord(str(host_name), step, kind, started_s=at)
                    record.steps.append(step_record)
                step_record.status = kind
                step_record.ended_s = at
                step_record.detail = dict(detail)
    outcomes = []
    for svc in services:
        members = [hosts[h] for h in svc.hosts if h in hosts]
        done = (
            members
            and len(members) == len(svc.hosts)
            and all(m.state in HOST_BACK_STATES for m in members)
        )
        restored = max((m.ended_s or 0.0) for m in members) if done else None
        since_incident = None
        if restored is not None and incident_at is not None and start is not None:
            since_incident = (start - incident_at).total_seconds() + restored
        reference = since_incident if since_incident is not None else restored
        outcomes.append(
            ServiceOutcome(
                id=svc.id,
                name=svc.name,
                priority=svc.priority,
                rto_s=svc.rto_s,
                restored_s=restored,
                restored_since_incident_s=since_incident,
                met_rto=None
                if svc.rto_s is None
                else (reference is not None and reference <= svc.rto_s),
            )
        )
    return RecoveryReport(
        run_id=run_id,
        graph_name=graph_name,
        run_started=start,
        run_ended=end,
        incident_at=incident_at,
        hosts=tuple(hosts.values()),
        services=tuple(outcomes),
        verdicts=tuple(verdicts),
        evidence=tuple(evidence),
        decisions=tuple(decisions),
        main_courante=tuple(courante),
        head_hash=head_hash,
        chain_ok=chain_ok,
        failures=tuple(failures),
        notes=tuple(notes),
    )


def _failure(event: Mapping[str, Any], kind: str, detail: Mapping[str, Any]) -> dict[str, Any]:
    raw = detail.get("failure")
    failure: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    return {
        "ts": event.get("ts"),
        "host": event.get("host"),
        "step": event.get("step"),
        "status": kind,
        "task": failure.get("task"),
        "module": failure.get("module"),
        "message": failure.get("message") or step_failure_text(detail),
        "why": step_failure_text(detail),
    }


def _summary(kind: str, detail: Mapping[str, Any]) -> str:
    parts = []
    for key in ("state", "verdict", "reason", "message", "error", "rc"):
        if detail.get(key) not in (None, ""):
            parts.append(f"{key}={detail[key]}")
    return f"{kind}" + (f" ({', '.join(parts)})" if parts else "")
