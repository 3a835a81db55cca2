"""What a run keeps of its inputs in the journal, so that nothing after the start re-reads them.

`run_started` holds the validated graph as data, the inventory's fingerprint, the incident
time and the plan (order, hosts with their steps and step keys). `status`, `report` and the
operator's decisions read this row, never the graph file: the file may have moved, changed
or been deleted since, and the record investigators read must not change with it.

Pure: dictionaries in, dictionaries out (the journal row is canonical JSON).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restore.errors import InputError
from restore.execution.journal import Event
from restore.models import GraphSpec, StepSpec

if TYPE_CHECKING:  # the report reads snapshots without importing the planner
    from restore.planning.model import RestorePlan


def step_document(step: StepSpec) -> dict[str, Any]:
    return {
        "type": step.type.value,
        "argument": step.argument,
        "name": step.name,
        "timeout_s": step.timeout_s,
        "retries": step.retries,
        "estimate_s": step.estimate_s,
        "platform": step.platform.value if step.platform else None,
        "idempotent": step.idempotent,
        "vars": dict(step.vars),
    }


def graph_document(graph: GraphSpec) -> dict[str, Any]:
    """The validated graph as data: what the run followed, whatever happens to the file."""
    return {
        "version": graph.version,
        "name": graph.name,
        "incident": (
            {"declared_at": graph.incident_declared_at.isoformat()}
            if graph.incident_declared_at
            else None
        ),
        "playbook_dir": str(graph.playbook_dir) if graph.playbook_dir else None,
        "network": {
            "quarantine": str(graph.network.quarantine) if graph.network.quarantine else None,
            "reconnect": str(graph.network.reconnect) if graph.network.reconnect else None,
        },
        "rehearsal": {
            "seed": [str(p) for p in graph.rehearsal_seeds],
            "vault_password_file": (
                str(graph.rehearsal_vault_password_file)
                if graph.rehearsal_vault_password_file
                else None
            ),
        },
        "services": [
            {
                "id": s.id,
                "name": s.name,
                "priority": s.priority,
                "hosts": list(s.host_refs),
                "depends_on": list(s.depends_on),
                "rto_s": s.rto_s,
                "max_parallel": s.max_parallel,
                "steps": None if s.steps is None else [step_document(st) for st in s.steps],
            }
            for s in graph.services
        ],
    }


def plan_hosts(plan: RestorePlan) -> list[dict[str, Any]]:
    """Each host in start order with its service, platform and steps under their keys."""
    from restore.execution.run_state import step_key

    return [
        {
            "host": h.name,
            "service": h.service,
            "platform": h.platform,
            "steps": [
                {
                    "key": step_key(i, st),
                    "type": st.type.value,
                    "label": st.label,
                    "idempotent": st.idempotent,
                }
                for i, st in enumerate(h.steps, 1)
            ],
        }
        for h in plan.hosts
    ]


def file_sha256(path: Path) -> str | None:
    """The file's digest, or None when it is gone or unreadable."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def inventory_fingerprint(source: str) -> str:
    """sha256 over the inventory's files (a file, a directory, or a dynamic inventory script,
    with the group_vars/host_vars beside it); for a host list such as "a,b," the text itself."""
    path = Path(source)
    if not path.exists():
        return hashlib.sha256(source.encode()).hexdigest()
    base = path if path.is_dir() else path.parent
    files = _files(path) + _files(base / "group_vars") + _files(base / "host_vars")
    digest = hashlib.sha256()
    for file in sorted(set(files)):
        digest.update(f"{file.relative_to(base) if file.is_relative_to(base) else file}\0".encode())
        digest.update((file_sha256(file) or "unreadable").encode() + b"\n")
    return digest.hexdigest()


def resolved_inventories(source: str | Path | Sequence[str | Path]) -> tuple[str, ...]:
    """Every `-i` of the run as an absolute path, in the order given (the order Ansible merges
    them in: a later one wins for a variable both set)."""
    sources = [source] if isinstance(source, str | Path) else list(source)
    return tuple(str(Path(s).resolve()) for s in sources)


def inventories_fingerprint(paths: Sequence[str]) -> str:
    """`inventory_fingerprint` of one inventory; for several, a digest over each one's path and
    fingerprint in order, so that adding, dropping, reordering or editing any of them shows."""
    if len(paths) == 1:
        return inventory_fingerprint(paths[0])  # what runs of one -i always recorded
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path}\0{inventory_fingerprint(path)}\n".encode())
    return digest.hexdigest()


def inventory_record(paths: Sequence[str]) -> dict[str, Any]:
    """`run_started`'s inventory keys. `inventory` stays the first path, as for a run of one
    `-i`; `inventories` lists them all, in order; `inventory_sha256` covers them all."""
    return {
        "inventory": paths[0],
        "inventories": list(paths),
        "inventory_sha256": inventories_fingerprint(paths),
    }


def started_inventories(detail: Mapping[str, Any]) -> tuple[str, ...]:
    """The inventories a `run_started` row names (a row from before `inventories`: its one)."""
    listed = detail.get("inventories")
    if isinstance(listed, list) and all(isinstance(p, str) for p in listed):
        return tuple(listed)
    single = detail.get("inventory")
    return (single,) if isinstance(single, str) else ()


def check_resumed_inventories(events: Iterable[Event], run_id: str, paths: Sequence[str]) -> None:
    """A resumed run goes on with the inventories it began with, unchanged: the same files in
    the same order (the merge depends on it) and the same content. InputError (exit 2)
    otherwise, before anything is journaled."""
    started = next((e for e in events if e.event == "run_started"), None)
    if started is None:
        return  # nothing recorded to compare with
    before = started_inventories(started.detail)
    if before and tuple(paths) != before:
        raise InputError(
            f"run {run_id} started with -i {' -i '.join(before)}; a resumed run must use the "
            f"same inventories in the same order (given: -i {' -i '.join(paths)})",
            key="--inventory",
            hint="pass the run's inventories again, or start a new run without --resume",
        )
    recorded = started.detail.get("inventory_sha256")
    if before and isinstance(recorded, str) and recorded != inventories_fingerprint(paths):
        raise InputError(
            f"the inventory changed since run {run_id} started; a resumed run must act on the "
            "hosts it began with",
            file=" + ".join(paths),
            key="--resume",
            hint="restore the original inventory files, or start a new run without --resume",
        )


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]


@dataclass(frozen=True)
class SnapshotService:
    id: str
    name: str
    priority: int
    rto_s: float | None
    hosts: tuple[str, ...]  # as planned (inventory names), in start order


@dataclass(frozen=True)
class RunSnapshot:
    """A run's inputs as its `run_started` row recorded them."""

    graph_path: str
    graph_sha256: str | None
    graph_name: str
    incident_at: datetime | None
    services: tuple[SnapshotService, ...]
    step_keys: Mapping[str, tuple[str, ...]]  # host -> its step keys, in order
    complete: bool  # False for a journal written before the graph was kept in it

    def graph_note(self) -> str | None:
        """What a reader must know when the graph file no longer matches the run's copy."""
        if self.graph_sha256 is None or not self.graph_path:
            return None
        now = file_sha256(Path(self.graph_path))
        if now == self.graph_sha256:
            return None
        kept = "this report uses the graph as the journal recorded it when the run started"
        if now is None:
            return f"the graph file {self.graph_path} is no longer there; {kept}"
        return (
            f"the graph file {self.graph_path} changed since the run started (sha256 "
            f"{self.graph_sha256[:12]}... then, {now[:12]}... now); {kept}"
        )


def snapshot(events: Iterable[Event]) -> RunSnapshot | None:
    """The run's snapshot from its events (the first `run_started`), or None without one."""
    started = next((e for e in events if e.event == "run_started"), None)
    if started is None:
        return None
    return snapshot_of(started.detail)


def snapshot_of(detail: Mapping[str, Any]) -> RunSnapshot:
    document = detail.get("graph_document")
    doc: Mapping[str, Any] = document if isinstance(document, Mapping) else {}
    hosts = [h for h in detail.get("hosts") or [] if isinstance(h, Mapping) and h.get("host")]
    members: dict[str, list[str]] = {}
    for item in hosts:
        members.setdefault(str(item.get("service") or ""), []).append(str(item["host"]))
    services = tuple(
        SnapshotService(
            id=str(s["id"]),
            name=str(s.get("name") or s["id"]),
            priority=int(s.get("priority") or 0),
            rto_s=float(s["rto_s"]) if s.get("rto_s") is not None else None,
            hosts=tuple(members.get(str(s["id"]), ())),
        )
        for s in doc.get("services") or []
        if isinstance(s, Mapping) and s.get("id")
    )
    incident = detail.get("incident_at")
    return RunSnapshot(
        graph_path=str(detail.get("graph") or ""),
        graph_sha256=str(detail["graph_sha256"]) if detail.get("graph_sha256") else None,
        graph_name=str(detail.get("graph_name") or doc.get("name") or ""),
        incident_at=datetime.fromisoformat(str(incident)) if incident else None,
        services=services,
        step_keys={
            str(h["host"]): tuple(str(st.get("key")) for st in h.get("steps") or []) for h in hosts
        },
        complete=bool(doc),
    )
