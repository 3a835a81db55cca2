"""Opening a run: a new one, with everything later commands need journaled in its first
event, or the latest (or a named) one resumed from its journal, refused when it cannot
honestly continue (a dry run resumed for real, a graph or an inventory changed since)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from restore.errors import InputError
from restore.execution.engine.recorder import Recorder
from restore.execution.engine.results import RunOptions
from restore.execution.run_snapshot import (
    check_resumed_inventories,
    graph_document,
    inventory_record,
    plan_hosts,
)
from restore.execution.run_state import HostReplay, replay
from restore.models import RunState
from restore.planning.model import RestorePlan


def graph_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_run(
    plan: RestorePlan, options: RunOptions, inventory_paths: tuple[str, ...], recorder: Recorder
) -> tuple[bool, dict[str, HostReplay]]:
    """Sets `recorder.run_id`; returns whether the run was resumed, and the journal's view of
    each host when it was."""
    digest = graph_hash(plan.graph.path)
    if options.resume:
        return True, _resume(plan, options, digest, inventory_paths, recorder)
    _start(plan, options, inventory_paths, digest, recorder)
    return False, {}


def _resume(
    plan: RestorePlan,
    options: RunOptions,
    digest: str,
    inventory_paths: tuple[str, ...],
    recorder: Recorder,
) -> dict[str, HostReplay]:
    journal = recorder.journal
    record = journal.run(options.run_id)
    if record is None:
        raise InputError("no run to resume in this state dir", key="--resume")
    if bool(record.options.get("dry_run")) != options.dry_run:
        # a dry run's steps are journaled as done: resumed for real, nothing would run
        was = "a dry run" if record.options.get("dry_run") else "a real run"
        raise InputError(
            f"run {record.run_id} was {was}; --resume continues it only as one",
            key="--resume",
            hint="start a new run without --resume"
            if record.options.get("dry_run")
            else "resume it without --dry-run",
        )
    if record.graph_hash != digest:
        raise InputError(
            f"the graph changed since run {record.run_id} started; a resumed run must "
            "follow the plan it began with",
            file=str(plan.graph.path),
            key="--resume",
            hint="restore the original graph, or start a new run without --resume",
        )
    check_resumed_inventories(journal.events(record.run_id), record.run_id, inventory_paths)
    recorder.run_id = record.run_id
    journal.set_run_state(recorder.run_id, RunState.RUNNING)
    # This process holds the state dir's run lock, so a run still marked running
    # is one that died (SIGKILL, power loss): it was interrupted.
    previous = RunState.INTERRUPTED if record.state == RunState.RUNNING else record.state
    recorder.record("run_resumed", detail={"previous_state": previous})
    return replay(journal.events(recorder.run_id))


def _start(
    plan: RestorePlan,
    options: RunOptions,
    inventory_paths: tuple[str, ...],
    digest: str,
    recorder: Recorder,
) -> None:
    graph_path = str(plan.graph.path.resolve())
    recorder.run_id = recorder.journal.create_run(
        graph_path=graph_path,
        graph_hash=digest,
        inventory=" + ".join(inventory_paths),
        options={
            "dry_run": options.dry_run,
            "max_parallel": options.max_parallel,
            "assume_yes": options.assume_yes,
        },
    )
    incident_at = plan.graph.incident_declared_at
    recorder.record(
        "run_started",
        # Everything later commands need, so that none re-reads the graph file
        # (restore.execution.run_snapshot): the graph as data, the plan with its step keys.
        detail={
            "graph": graph_path,
            "graph_name": plan.graph.name,
            "graph_sha256": digest,
            "graph_document": graph_document(plan.graph),
            "incident_at": incident_at.isoformat() if incident_at else None,
            **inventory_record(inventory_paths),
            "dry_run": options.dry_run,
            "max_parallel": options.max_parallel,
            "order": list(plan.order),
            "critical_path": list(plan.critical_path),
            "hosts": plan_hosts(plan),
        },
    )
