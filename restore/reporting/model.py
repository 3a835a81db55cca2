"""The recovery report's numbers, read from the one fold of the run's journal (pure).

Everything the crisis cell, the investigators and the data-protection officer read comes from
the hash-chained journal: the report never keeps a number of its own. It reads the run as
restore.execution.run_fold tells it (the same view `restore status`, the live view and
`--resume` read), plus what the graph says about each service (name, priority, RTO) and the
incident start. It never reads an event name itself: which row ends a step, carries a
verdict or is a decision is decided once, in the fold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from restore.ansible.failures import step_failure_text
from restore.execution.journal_chain import Event
from restore.execution.run_fold import (
    HostView,
    RunView,
    StepFailure,
    StepResult,
    fold_run,
)
from restore.reporting.restore_points import restore_points


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
    failed: bool = False  # failed, timed out, refused, or never ended (the fold says which)
    skipped: bool = False  # skipped or waived


@dataclass
class HostRecord:
    host: str
    service: str
    state: str = "pending"
    started_s: float | None = None
    ended_s: float | None = None
    verdict: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    back: bool = False  # back in service or waived: its service can count it


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
        if not self.hosts:
            return "empty"
        return "succeeded" if all(h.back for h in self.hosts) else "failed"


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
    """The report of rows as `restore journal export` gives them (in any order)."""
    rows = sorted(events, key=lambda e: int(e.get("seq", 0)))
    return report_from_view(
        fold_run(Event.from_json(row) for row in rows),
        services,
        run_id=run_id,
        graph_name=graph_name,
        incident_at=incident_at,
        head_hash=head_hash,
        chain_ok=chain_ok,
        notes=notes,
    )


def report_from_view(
    view: RunView,
    services: Sequence[ServiceInfo],
    *,
    run_id: str,
    graph_name: str,
    incident_at: datetime | None = None,
    head_hash: str | None = None,
    chain_ok: bool | None = None,
    notes: Sequence[str] = (),
) -> RecoveryReport:
    clock = _Clock(view.started_at)
    service_of = {h: s.id for s in services for h in s.hosts}
    hosts = {
        h.host: _host_record(h, service_of.get(h.host, ""), clock) for h in view.journal_hosts()
    }
    return RecoveryReport(
        run_id=run_id,
        graph_name=graph_name,
        run_started=view.started_at,
        run_ended=view.ended_at,
        incident_at=incident_at,
        hosts=tuple(hosts.values()),
        services=tuple(_service_outcome(s, hosts, clock, incident_at) for s in services),
        verdicts=tuple(
            {"ts": v.ts, "host": v.host, "verdict": v.verdict, "findings": list(v.findings)}
            for v in view.verdicts
        ),
        evidence=tuple(view.evidence),
        restore_points=restore_points(view),
        decisions=tuple(
            {
                "ts": d.ts,
                "host": d.host,
                "step": d.step,
                "decision": d.kind,
                "by": d.by,
                "reason": d.reason,
            }
            for d in view.decisions
        ),
        main_courante=tuple(_courante_line(e) for e in view.log),
        head_hash=head_hash,
        chain_ok=chain_ok,
        failures=tuple(_failure(f) for f in view.failures),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class _Clock:
    """Seconds from the run's first row: every time the report shows is one of these."""

    start: datetime | None

    def offset(self, moment: datetime | None) -> float | None:
        if moment is None or self.start is None:
            return None
        return (moment - self.start).total_seconds()


def _host_record(host: HostView, graph_service: str, clock: _Clock) -> HostRecord:
    return HostRecord(
        host=host.host,
        service=host.service or graph_service,
        state=host.state,
        started_s=clock.offset(host.first_at),
        ended_s=clock.offset(host.last_at),
        verdict=host.verdict,
        steps=[_step_record(s, clock) for s in host.steps],
        back=host.back,
    )


def _step_record(attempt: StepResult, clock: _Clock) -> StepRecord:
    return StepRecord(
        attempt.host,
        attempt.step,
        attempt.status,
        started_s=clock.offset(attempt.started_at),
        ended_s=clock.offset(attempt.ended_at),
        detail=dict(attempt.detail),
        failed=attempt.failed,
        skipped=attempt.skipped,
    )


def _service_outcome(
    svc: ServiceInfo,
    hosts: Mapping[str, HostRecord],
    clock: _Clock,
    incident_at: datetime | None,
) -> ServiceOutcome:
    """When the service came back (its last host's last row) against its RTO, counted from
    the incident when one is declared, else from the run's start."""
    members = [hosts[h] for h in svc.hosts if h in hosts]
    done = members and len(members) == len(svc.hosts) and all(m.back for m in members)
    restored = max((m.ended_s or 0.0) for m in members) if done else None
    since_incident = None
    if restored is not None and incident_at is not None and clock.start is not None:
        since_incident = (clock.start - incident_at).total_seconds() + restored
    reference = since_incident if since_incident is not None else restored
    return ServiceOutcome(
        id=svc.id,
        name=svc.name,
        priority=svc.priority,
        rto_s=svc.rto_s,
        restored_s=restored,
        restored_since_incident_s=since_incident,
        met_rto=None if svc.rto_s is None else (reference is not None and reference <= svc.rto_s),
    )


def _courante_line(event: Event) -> dict[str, Any]:
    """One row of the main courante (the log book): every journal row, summarised."""
    return {
        "seq": event.seq,
        "ts": event.ts,
        "host": event.host,
        "service": event.service,
        "step": event.step or None,
        "event": event.event,
        "by": event.detail.get("by"),
        "summary": _summary(event.event, event.detail),
    }


def _failure(failure: StepFailure) -> dict[str, Any]:
    raw = failure.detail.get("failure")
    named: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    return {
        "ts": failure.ts,
        "host": failure.host,
        "step": failure.step,
        "status": failure.status,
        "task": named.get("task"),
        "module": named.get("module"),
        "message": named.get("message") or step_failure_text(failure.detail),
        "why": step_failure_text(failure.detail),
    }


def _summary(kind: str, detail: Mapping[str, Any]) -> str:
    parts = []
    for key in ("state", "verdict", "reason", "message", "error", "rc"):
        if detail.get(key) not in (None, ""):
            parts.append(f"{key}={detail[key]}")
    return f"{kind}" + (f" ({', '.join(parts)})" if parts else "")
