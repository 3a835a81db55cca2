"""Build the recovery report of one run from its journal alone.

Service names, priorities, RTOs and the incident start come from the graph as the run's
`run_started` row recorded it (restore.execution.run_snapshot), never from the graph file:
the report of a run stays the same wherever it is written and whatever happened to the file since (a
changed or missing file is said in a note). The numbers — when each host started, what each
check found, when each service came back — come from journal events.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from restore.errors import InputError
from restore.execution.journal import Journal
from restore.execution.run_snapshot import snapshot_of
from restore.reporting.model import RecoveryReport, ServiceInfo, build_report
from restore.reporting.restore_points import restore_points


def report_for_run(state_dir: Path, run_id: str | None = None) -> RecoveryReport:
    journal = Journal(state_dir, read_only=True)  # a report never creates or changes state
    try:
        run = journal.run(run_id)
        if run is None:
            raise InputError(
                f"no run {'named ' + run_id if run_id else 'recorded'} in {state_dir}",
                hint="see `restore status`, or pass --state-dir",
            )
        events = [e.to_json() for e in journal.events(run.run_id)]
        verification = journal.verify()
    finally:
        journal.close()
    services, graph_name, incident_at, notes = _from_snapshot(run.run_id, events, run.graph_path)
    for event in events:  # a rehearsal's clocks start at its simulated attack
        simulated = (event.get("detail") or {}).get("simulated_incident_at")
        if event["event"] == "rehearsal" and simulated:
            incident_at = datetime.fromisoformat(simulated)
    report = build_report(
        events,
        services,
        run_id=run.run_id,
        graph_name=graph_name,
        incident_at=incident_at,
        head_hash=verification.head_hash,
        chain_ok=verification.ok,
        notes=notes,
    )
    return replace(report, restore_points=restore_points(events))


def _from_snapshot(
    run_id: str, events: list[dict[str, Any]], graph_path: str
) -> tuple[list[ServiceInfo], str, datetime | None, list[str]]:
    """Names, RTOs and the incident time as the run recorded them at its start."""
    started = next((e for e in events if e["event"] == "run_started"), None)
    if started is None:
        return [], Path(graph_path).stem, None, [f"run {run_id} has no run_started row"]
    snap = snapshot_of(started.get("detail") or {})
    hosts_of: dict[str, list[str]] = {s.id: list(s.hosts) for s in snap.services}
    for event in events:  # hosts the journal saw that the start row did not list
        members = hosts_of.get(event["service"] or "")
        if event["host"] and members is not None and event["host"] not in members:
            members.append(event["host"])
    services = [
        ServiceInfo(s.id, s.name, s.priority, s.rto_s, tuple(hosts_of[s.id]))
        for s in snap.services
        if hosts_of[s.id]
    ]
    notes = [note] if (note := snap.graph_note()) else []
    if not snap.complete:
        notes.append("this run's journal predates the graph's copy in it: no names or RTOs")
    return services, snap.graph_name or Path(graph_path).stem, snap.incident_at, notes
