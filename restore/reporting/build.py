"""Build the recovery report of one run from its journal alone.

Service names, priorities, RTOs and the incident start come from the graph as the run's
`run_started` row recorded it (restore.execution.run_snapshot), never from the graph file:
the report of a run stays the same wherever it is written and whatever happened to the file since (a
changed or missing file is said in a note). The numbers — when each host started, what each
check found, when each service came back — come from journal events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from restore.errors import InputError
from restore.execution.journal import Journal
from restore.execution.run_fold import RunView, fold_run
from restore.execution.run_snapshot import snapshot_of
from restore.reporting.model import RecoveryReport, ServiceInfo, report_from_view

REPORT_PHASES = 3
"""How many times `report_for_run` calls `progress`: once per phase done, so that a caller can
show a count (`2/4`) rather than a spinner."""


def report_for_run(
    state_dir: Path, run_id: str | None = None, progress: Callable[[str], None] | None = None
) -> RecoveryReport:
    said = progress or (lambda _done: None)
    journal = Journal(state_dir, read_only=True)  # a report never creates or changes state
    try:
        run = journal.run(run_id)
        if run is None:
            raise InputError(
                f"no run {'named ' + run_id if run_id else 'recorded'} in {state_dir}",
                hint="see `restore status`, or pass --state-dir",
            )
        events = journal.events(run.run_id)
        said(f"read {len(events)} event(s)")
        view = fold_run(events)
        verification = journal.verify()
        said(f"hash chain {'intact' if verification.ok else 'BROKEN'}")
    finally:
        journal.close()
    services, graph_name, incident_at, notes = _from_snapshot(run.run_id, view, run.graph_path)
    # a rehearsal's clocks start at its simulated attack
    incident_at = view.simulated_incident_at or incident_at
    report = report_from_view(
        view,
        services,
        run_id=run.run_id,
        graph_name=graph_name,
        incident_at=incident_at,
        head_hash=verification.head_hash,
        chain_ok=verification.ok,
        notes=notes,
    )
    said(f"report of {len(report.hosts)} host(s) built")
    return report


def _from_snapshot(
    run_id: str, view: RunView, graph_path: str
) -> tuple[list[ServiceInfo], str, datetime | None, list[str]]:
    """Names, RTOs and the incident time as the run recorded them at its start."""
    if view.plan is None:
        return [], Path(graph_path).stem, None, [f"run {run_id} has no run_started row"]
    snap = snapshot_of(view.plan)
    hosts_of: dict[str, list[str]] = {s.id: list(s.hosts) for s in snap.services}
    for host in view.journal_hosts():  # hosts the journal saw that the start row did not list
        members = hosts_of.get(host.service or "")
        if members is not None and host.host not in members:
            members.append(host.host)
    services = [
        ServiceInfo(s.id, s.name, s.priority, s.rto_s, tuple(hosts_of[s.id]))
        for s in snap.services
        if hosts_of[s.id]
    ]
    notes = [note] if (note := snap.graph_note()) else []
    if not snap.complete:
        notes.append("this run's journal predates the graph's copy in it: no names or RTOs")
    return services, snap.graph_name or Path(graph_path).stem, snap.incident_at, notes
