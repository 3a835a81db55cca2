"""Build the recovery report of one run from the journal (and its graph, for names and RTOs).

The graph file is read again for what the journal does not hold (service names, priorities,
RTOs, the incident start); the numbers themselves — when each host started, what each check
found, when each service came back — come from journal events alone.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from restore.errors import InputError
from restore.journal import Journal
from restore.report_model import RecoveryReport, ServiceInfo, build_report


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
    services: list[ServiceInfo] = []
    graph_name = Path(run.graph_path).stem
    incident_at = None
    try:
        from restore.graph import load_graph

        graph = load_graph(run.graph_path)
        graph_name, incident_at = graph.name, graph.incident_declared_at
        hosts_of: dict[str, list[str]] = {}
        for event in events:
            if event["host"] and event["service"]:
                hosts_of.setdefault(event["service"], [])
                if event["host"] not in hosts_of[event["service"]]:
                    hosts_of[event["service"]].append(event["host"])
        services = [
            ServiceInfo(s.id, s.name, s.priority, s.rto_s, tuple(hosts_of.get(s.id, ())))
            for s in graph.services
            if s.id in hosts_of
        ]
    except InputError:
        pass  # the graph moved or changed: the report still stands on the journal alone
    for event in events:  # a rehearsal's clocks start at its simulated attack
        simulated = (event.get("detail") or {}).get("simulated_incident_at")
        if event["event"] == "rehearsal" and simulated:
            incident_at = datetime.fromisoformat(simulated)
    return build_report(
        events,
        services,
        run_id=run.run_id,
        graph_name=graph_name,
        incident_at=incident_at,
        head_hash=verification.head_hash,
        chain_ok=verification.ok,
    )
