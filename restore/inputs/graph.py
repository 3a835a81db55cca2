"""The graph file (version 1, DESIGN §3): YAML -> validated GraphSpec -> networkx DiGraph.

Validation is declarative (pydantic, restore.inputs.graph_schema) for shapes and types; each
step is checked by its kind (restore.inputs.graph_steps); the cross-references (unknown
dependency, cycle, duplicate id) are checked after, on the typed model
(restore.inputs.graph_references). Every problem becomes an InputError naming the file, the
service, the key and the line, with the nearest valid name for a typo. All problems found are
reported at once (restore.inputs.graph_problems).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from restore.errors import InputError
from restore.inputs.graph_problems import Collector, duration, playbook
from restore.inputs.graph_references import check_references, to_digraph, written_ids
from restore.inputs.graph_schema import SERVICE_ID_PATTERN, GraphShape, ServiceShape, validated
from restore.inputs.graph_steps import parse_step
from restore.inputs.typos import did_you_mean, nearest
from restore.inputs.yaml_source import PathKey, load_yaml
from restore.models import GraphSpec, NetworkSpec, ServiceSpec, StepSpec

__all__ = [
    "SERVICE_ID_PATTERN",
    "did_you_mean",
    "load_graph",
    "nearest",
    "to_digraph",
]


def load_graph(path: str | Path) -> GraphSpec:
    """Read, validate and resolve a graph file. Raises InputError with every problem found."""
    graph_path = Path(path)
    doc = load_yaml(graph_path)
    errors = Collector(graph_path, doc)
    if doc.data is None:
        raise InputError(
            "empty file; a graph starts with `version: 1`, `name:` and `services:`",
            file=str(graph_path),
        )
    if not isinstance(doc.data, dict):
        raise InputError(
            f"expected a mapping (version, name, services...), got a {type(doc.data).__name__}",
            file=str(graph_path),
            line=1,
        )
    model, indices = validated(errors, doc.data)
    base_dir = graph_path.parent
    playbook_dir = (base_dir / model.playbook_dir) if model.playbook_dir else base_dir
    if model.playbook_dir and not playbook_dir.is_dir():
        errors.add(
            f"playbook_dir {model.playbook_dir!r} is not a directory (resolved to {playbook_dir})",
            ("playbook_dir",),
        )

    incident_at = _incident_time(model, errors)
    network = _network(model, playbook_dir, errors)
    seeds = _rehearsal_seeds(model, playbook_dir, errors)
    rehearsal_vault = _rehearsal_vault(model, base_dir, errors)
    services = [
        _service(index, svc, playbook_dir, errors)
        for index, svc in zip(indices, model.services, strict=True)
    ]
    check_references(services, indices, written_ids(doc.data), errors)
    errors.raise_if_any()
    return GraphSpec(
        path=graph_path,
        name=model.name,
        services=tuple(services),
        version=model.version,
        incident_declared_at=incident_at,
        playbook_dir=playbook_dir,
        network=network,
        rehearsal_seeds=seeds,
        rehearsal_vault_password_file=rehearsal_vault,
    )


def _incident_time(model: GraphShape, errors: Collector) -> datetime | None:
    if model.incident is None:
        return None
    value = model.incident.declared_at
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            errors.add(
                f"bad timestamp {value!r}",
                ("incident", "declared_at"),
                hint='use ISO 8601 with a zone, e.g. "2026-11-20T01:30:00+01:00"',
            )
            return None
    if parsed.tzinfo is None:
        errors.add(
            "timestamp has no time zone",
            ("incident", "declared_at"),
            hint='add the offset, e.g. "2026-11-20T01:30:00+01:00"',
        )
        return None
    return parsed


def _network(model: GraphShape, playbook_dir: Path, errors: Collector) -> NetworkSpec:
    if model.network is None:
        return NetworkSpec()
    found: dict[str, Path | None] = {"quarantine": None, "reconnect": None}
    for key in found:
        ref = getattr(model.network, key)
        if ref is not None:
            found[key] = playbook(ref, playbook_dir, errors, ("network", key))
    return NetworkSpec(quarantine=found["quarantine"], reconnect=found["reconnect"])


def _rehearsal_seeds(model: GraphShape, playbook_dir: Path, errors: Collector) -> tuple[Path, ...]:
    """What a rehearsal must prepare on its twins (e.g. a backup to restore from): declared
    with the graph, so that `restore rehearse GRAPH -i INV --lab` needs nothing else."""
    if model.rehearsal is None:
        return ()
    seed = model.rehearsal.seed
    refs: list[tuple[str, PathKey]] = (
        [(seed, ("rehearsal", "seed"))]
        if isinstance(seed, str)
        else [(ref, ("rehearsal", "seed", i)) for i, ref in enumerate(seed)]
    )
    found = []
    for ref, loc in refs:
        if not ref.strip():
            errors.add("needs a playbook path", loc, key="rehearsal.seed")
        else:
            found.append(playbook(ref, playbook_dir, errors, loc))
    return tuple(found)


def _rehearsal_vault(model: GraphShape, base_dir: Path, errors: Collector) -> Path | None:
    """The lab's vault password file (relative to the graph file), used by a rehearsal when
    the operator set no ANSIBLE_VAULT_PASSWORD_FILE: lab secrets only, never production's."""
    ref = model.rehearsal.vault_password_file if model.rehearsal else None
    if ref is None:
        return None
    path = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    if not path.is_file():
        errors.add(
            f"vault password file {ref!r} does not exist (looked for {path})",
            ("rehearsal", "vault_password_file"),
            hint="the path is relative to the graph file",
        )
    return path


def _service(index: int, svc: ServiceShape, playbook_dir: Path, errors: Collector) -> ServiceSpec:
    loc: PathKey = ("services", index)
    steps: tuple[StepSpec, ...] | None = None
    if svc.steps is not None:
        parsed = [
            parse_step(raw, playbook_dir, errors, (*loc, "steps", i), svc.id)
            for i, raw in enumerate(svc.steps)
        ]
        steps = tuple(s for s in parsed if s is not None)
    return ServiceSpec(
        id=svc.id,
        name=svc.name or svc.id,
        priority=svc.priority,
        host_refs=tuple(svc.hosts),
        depends_on=tuple(svc.depends_on),
        rto_s=duration(svc.rto, errors, (*loc, "rto"), svc.id),
        max_parallel=svc.max_parallel,
        steps=steps,
        line=errors.doc.line_of(loc),
    )
