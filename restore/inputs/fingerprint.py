"""Content fingerprints of what a rehearsal proved: the graph, the inventory, the playbooks.

A successful rehearsal is recorded with the sha256 of every file it depended on. Later,
`restore plan` compares the files as they are now and names each one that changed: the
plan then "needs re-verification" before anyone relies on it during a real crisis.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from restore.models import GraphSpec

RECORD_NAME = "last-successful-rehearsal.json"


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files_under(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def tracked_files(graph: GraphSpec, inventory_source: Path | Sequence[Path]) -> list[Path]:
    """Every file whose change should invalidate a rehearsal (every inventory of `-i A -i B`)."""
    files = [graph.path]
    sources = [inventory_source] if isinstance(inventory_source, Path) else list(inventory_source)
    for source in sources:
        base = source if source.is_dir() else source.parent
        files += _files_under(source)
        files += _files_under(base / "group_vars") + _files_under(base / "host_vars")
    if graph.playbook_dir is not None and graph.playbook_dir != graph.path.parent:
        files += _files_under(graph.playbook_dir)
    for svc in graph.services:
        for step in svc.steps or ():
            if step.type.value == "ansible" and step.argument:
                files.append(Path(step.argument))
    seen: dict[str, Path] = {}
    for file in files:
        seen.setdefault(str(file.resolve()), file)
    return sorted(seen.values(), key=lambda p: str(p.resolve()))


def fingerprint(files: list[Path]) -> dict[str, str]:
    return {str(p.resolve()): _hash_file(p) for p in files if p.is_file()}


@dataclass(frozen=True)
class Staleness:
    """What changed since the last successful rehearsal (empty lists: nothing)."""

    rehearsed_at: str | None
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def needs_reverification(self) -> bool:
        return self.rehearsed_at is None or bool(self.changed or self.added or self.removed)


def record_success(
    state_dir: Path, graph: GraphSpec, inventory_source: Path | Sequence[Path], run_id: str
) -> Path:
    record = {
        "run_id": run_id,
        "rehearsed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "graph": str(graph.path.resolve()),
        "files": fingerprint(tracked_files(graph, inventory_source)),
    }
    target = state_dir / "rehearsals" / _record_key(graph) / RECORD_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(record, indent=2))
    return target


def _record_key(graph: GraphSpec) -> str:
    return hashlib.sha256(str(graph.path.resolve()).encode()).hexdigest()[:16]


def staleness(
    state_dir: Path, graph: GraphSpec, inventory_source: Path | Sequence[Path]
) -> Staleness:
    target = state_dir / "rehearsals" / _record_key(graph) / RECORD_NAME
    try:
        record = json.loads(target.read_text())
        recorded: dict[str, str] = record["files"]
    except (OSError, ValueError, KeyError):
        return Staleness(rehearsed_at=None)
    now = fingerprint(tracked_files(graph, inventory_source))
    return Staleness(
        rehearsed_at=str(record.get("rehearsed_at")),
        changed=tuple(p for p in now if p in recorded and recorded[p] != now[p]),
        added=tuple(p for p in now if p not in recorded),
        removed=tuple(p for p in recorded if p not in now),
    )
