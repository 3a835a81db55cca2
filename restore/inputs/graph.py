"""The graph file (version 1, DESIGN §3): YAML -> validated GraphSpec -> networkx DiGraph.

Validation is declarative (pydantic) for shapes and types; the cross-references (unknown
dependency, cycle, duplicate id, missing playbook) are checked after, on the typed model.
Every problem becomes an InputError naming the file, the service, the key and the line, with
the nearest valid name for a typo. All problems found are reported at once.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from restore.errors import InputError, InputErrors
from restore.inputs.durations import DURATION_HELP, parse_duration
from restore.inputs.yaml_source import PathKey, YamlDocument, load_yaml
from restore.models import GraphSpec, NetworkSpec, Platform, ServiceSpec, StepSpec, StepType

SERVICE_ID_PATTERN = r"^[a-z0-9_-]+$"
STEP_COMMON_KEYS = ("name", "timeout", "retries", "estimate", "platform", "idempotent", "vars")
STEP_TYPES = tuple(t.value for t in StepType)
HEALTH_PROBES = ("tcp", "http", "command")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Incident(_Strict):
    declared_at: datetime | str


class _Network(_Strict):
    quarantine: str | None = None
    reconnect: str | None = None


class _Rehearsal(_Strict):
    seed: list[str] | str = []
    vault_password_file: str | None = None


class _Service(_Strict):
    id: Annotated[str, Field(pattern=SERVICE_ID_PATTERN)]
    name: str | None = None
    priority: Annotated[StrictInt, Field(ge=0)]
    hosts: Annotated[list[str], Field(min_length=1)]
    depends_on: list[str] = []
    rto: str | None = None
    max_parallel: Annotated[StrictInt, Field(ge=1)] = 1
    steps: list[str | dict[str, Any]] | None = None


class _Graph(_Strict):
    version: Literal[1]
    name: str
    incident: _Incident | None = None
    playbook_dir: str | None = None
    network: _Network | None = None
    rehearsal: _Rehearsal | None = None
    services: Annotated[list[_Service], Field(min_length=1)]


class _StepOptions(_Strict):
    name: str | None = None
    timeout: str | None = None
    retries: Annotated[StrictInt, Field(ge=0)] = 0
    estimate: str | None = None
    platform: Literal["linux", "windows"] | None = None
    idempotent: StrictBool = True
    vars: dict[str, Any] | None = None


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The closest valid name to a typo, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = nearest(word, choices)
    return f"did you mean '{close}'?" if close else None


class _Collector:
    """Gathers every problem in a graph file so the user sees them all at once."""

    def __init__(self, path: Path, doc: YamlDocument) -> None:
        self.path = path
        self.doc = doc
        self.errors: list[InputError] = []

    def service_id_at(self, index: int) -> str | None:
        services = self.doc.data.get("services") if isinstance(self.doc.data, dict) else None
        if isinstance(services, list) and index < len(services):
            entry = services[index]
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                return str(entry["id"])
        return None

    def add(
        self,
        message: str,
        loc: PathKey,
        *,
        key: str | None = None,
        hint: str | None = None,
        service: str | None = None,
    ) -> None:
        if service is None and len(loc) >= 2 and loc[0] == "services" and isinstance(loc[1], int):
            service = self.service_id_at(loc[1])
        if key is None:
            named = [str(p) for p in loc if isinstance(p, str)]
            key = ".".join(named[1:] if named[:1] == ["services"] else named) or None
        self.errors.append(
            InputError(
                message,
                file=str(self.path),
                service=service,
                key=key,
                line=self.doc.line_of(loc),
                hint=hint,
            )
        )

    def raise_if_any(self) -> None:
        # In the file's order, as the user reads it (problems without a line last).
        self.errors.sort(key=lambda e: e.line if e.line is not None else 1 << 30)
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InputErrors(self.errors)


_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "graph": tuple(_Graph.model_fields),
    "service": tuple(_Service.model_fields),
    "incident": tuple(_Incident.model_fields),
    "network": tuple(_Network.model_fields),
    "rehearsal": tuple(_Rehearsal.model_fields),
}


def _known_keys_for(loc: PathKey) -> tuple[str, ...]:
    parents = [p for p in loc[:-1] if isinstance(p, str)]
    if not parents:
        return _KNOWN_KEYS["graph"]
    if parents == ["services"]:
        return _KNOWN_KEYS["service"]
    return _KNOWN_KEYS.get(parents[-1], ())


_UNION_MEMBERS = frozenset({"str", "dict[str,any]", "datetime"})
_KINDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "bool_type": "true or false",
    "datetime_type": "a date and time",
}


def _describe(item: Any, last: object) -> str:
    """A pydantic error in plain words, echoing the offending value: `priority: high` ->
    "priority 'high' is not an integer"."""
    kind = item["type"]
    value = item.get("input")
    ctx = item.get("ctx") or {}
    name = str(last) if last != "" else "value"
    if kind in _KINDS:
        return f"{name} {value!r} is not {_KINDS[kind]}"
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        bound = next(iter(ctx.values()), "?")
        relation = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        return f"{name} {value!r} must be {relation} {bound}"
    if kind == "too_short":
        return f"{name} must not be empty"
    if kind == "literal_error":
        return f"{name} {value!r} is not one of {ctx.get('expected', '?')}"
    return f"{name}: {item['msg']} (got {value!r})"


def _report_validation(errors: _Collector, exc: ValidationError, prefix: PathKey = ()) -> None:
    reported: set[tuple[PathKey, str]] = set()
    for item in exc.errors():
        # pydantic appends the union member name to the location; drop those.
        loc: PathKey = prefix + tuple(
            p for p in item["loc"] if not (isinstance(p, str) and p in _UNION_MEMBERS)
        )
        kind = item["type"]
        last = loc[-1] if loc else ""
        if any(seen == loc for seen, _ in reported) and kind in _KINDS:
            continue  # a value that fits no member of a union: say it once
        reported.add((loc, kind))
        if kind == "extra_forbidden":
            errors.add(
                f"unknown key '{last}'",
                loc,
                key=str(last),
                hint=did_you_mean(str(last), _known_keys_for(loc))
                or f"valid keys: {', '.join(_known_keys_for(loc))}",
            )
        elif kind == "missing":
            errors.add(f"missing required key '{last}'", loc, key=str(last))
        elif kind == "literal_error" and loc == ("version",):
            errors.add(
                f"unsupported version {item.get('input')!r}",
                loc,
                hint="this tool reads `version: 1`",
            )
        elif kind == "string_pattern_mismatch":
            errors.add(
                f"invalid id {item.get('input')!r}",
                loc,
                hint="use lowercase letters, digits, '-' and '_' only",
            )
        else:
            errors.add(_describe(item, last), loc)


class _GraphShell(_Graph):
    """The graph's top level with each service left unvalidated: services are validated one
    by one, so that one bad service does not hide the problems of the others."""

    services: Annotated[list[Any], Field(min_length=1)]


def _validated(errors: _Collector, data: dict[str, Any]) -> tuple[_Graph, list[int]]:
    """The graph with every service that is valid on its own, and their indices in the file.
    Every shape problem is collected, not just the first service's."""
    top: dict[str, Any]
    try:
        shell = _GraphShell.model_validate(data)
        top = {name: getattr(shell, name) for name in _Graph.model_fields if name != "services"}
    except ValidationError as exc:
        _report_validation(errors, exc)
        top = {
            "version": 1,
            "name": data.get("name") if isinstance(data.get("name"), str) else "",
            "playbook_dir": data.get("playbook_dir")
            if isinstance(data.get("playbook_dir"), str)
            else None,
        }
    raw_services = data.get("services")
    services: list[_Service] = []
    indices: list[int] = []
    for index, raw in enumerate(raw_services if isinstance(raw_services, list) else []):
        try:
            services.append(_Service.model_validate(raw))
            indices.append(index)
        except ValidationError as exc:
            _report_validation(errors, exc, ("services", index))
            salvaged = _salvage(raw, exc)
            if salvaged is not None:
                services.append(salvaged)
                indices.append(index)
    return _Graph.model_construct(**top, services=services), indices


# Stand-ins for a required key whose value was refused, so that the service's other keys
# (durations, playbooks, dependencies) are still checked. The graph is refused anyway.
_STAND_INS: dict[str, Any] = {"priority": 0, "hosts": ["-"]}


def _salvage(raw: Any, exc: ValidationError) -> _Service | None:
    """The service without its refused keys (defaults or stand-ins in their place), or None
    when it cannot be identified (no valid id) or is not a mapping."""
    if not isinstance(raw, dict):
        return None
    fixed = dict(raw)
    for item in exc.errors():
        name = item["loc"][0] if item["loc"] else None
        if not isinstance(name, str) or name == "id":
            return None
        if name in _STAND_INS:
            fixed[name] = _STAND_INS[name]
        else:
            fixed.pop(name, None)
    try:
        return _Service.model_validate(fixed)
    except ValidationError:
        return None


def load_graph(path: str | Path) -> GraphSpec:
    """Read, validate and resolve a graph file. Raises InputError with every problem found."""
    graph_path = Path(path)
    doc = load_yaml(graph_path)
    errors = _Collector(graph_path, doc)
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
    model, indices = _validated(errors, doc.data)
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
    _check_references(services, indices, _written_ids(doc.data), errors)
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


def _incident_time(model: _Graph, errors: _Collector) -> datetime | None:
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


def _playbook(
    ref: str, playbook_dir: Path, errors: _Collector, loc: PathKey, service: str | None = None
) -> Path:
    candidate = Path(ref)
    resolved = candidate if candidate.is_absolute() else playbook_dir / candidate
    if not resolved.is_file():
        existing = (
            sorted(p.name for p in playbook_dir.glob("*.y*ml")) if playbook_dir.is_dir() else []
        )
        errors.add(
            f"playbook {ref!r} does not exist (looked for {resolved})",
            loc,
            service=service,
            hint=did_you_mean(candidate.name, existing)
            or "paths are relative to playbook_dir, itself relative to the graph file",
        )
    return resolved


def _network(model: _Graph, playbook_dir: Path, errors: _Collector) -> NetworkSpec:
    if model.network is None:
        return NetworkSpec()
    found: dict[str, Path | None] = {"quarantine": None, "reconnect": None}
    for key in found:
        ref = getattr(model.network, key)
        if ref is not None:
            found[key] = _playbook(ref, playbook_dir, errors, ("network", key))
    return NetworkSpec(quarantine=found["quarantine"], reconnect=found["reconnect"])


def _rehearsal_seeds(model: _Graph, playbook_dir: Path, errors: _Collector) -> tuple[Path, ...]:
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
            found.append(_playbook(ref, playbook_dir, errors, loc))
    return tuple(found)


def _rehearsal_vault(model: _Graph, base_dir: Path, errors: _Collector) -> Path | None:
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


def _duration(
    text: str | None, errors: _Collector, loc: PathKey, service: str | None = None
) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(str(text))
    except ValueError:
        errors.add(f"bad duration {text!r}", loc, service=service, hint=DURATION_HELP)
        return None


def _service(index: int, svc: _Service, playbook_dir: Path, errors: _Collector) -> ServiceSpec:
    loc: PathKey = ("services", index)
    steps: tuple[StepSpec, ...] | None = None
    if svc.steps is not None:
        parsed = [
            _step(raw, playbook_dir, errors, (*loc, "steps", i), svc.id)
            for i, raw in enumerate(svc.steps)
        ]
        steps = tuple(s for s in parsed if s is not None)
    return ServiceSpec(
        id=svc.id,
        name=svc.name or svc.id,
        priority=svc.priority,
        host_refs=tuple(svc.hosts),
        depends_on=tuple(svc.depends_on),
        rto_s=_duration(svc.rto, errors, (*loc, "rto"), svc.id),
        max_parallel=svc.max_parallel,
        steps=steps,
        line=errors.doc.line_of(loc),
    )


def _step(
    raw: str | dict[str, Any], playbook_dir: Path, errors: _Collector, loc: PathKey, service: str
) -> StepSpec | None:
    if isinstance(raw, str):
        raw = {raw: None}
    type_keys = [k for k in raw if k in STEP_TYPES]
    unknown = [k for k in raw if k not in STEP_TYPES and k not in STEP_COMMON_KEYS]
    for key in unknown:
        errors.add(
            f"unknown step type or key '{key}'",
            (*loc, key),
            key=f"steps[{loc[-1]}].{key}",
            service=service,
            hint=did_you_mean(key, STEP_TYPES + STEP_COMMON_KEYS)
            or f"step types: {', '.join(STEP_TYPES)}",
        )
    if len(type_keys) != 1:
        if not unknown:
            errors.add(
                "a step needs exactly one type"
                + (f", found {', '.join(type_keys)}" if type_keys else ""),
                loc,
                key=f"steps[{loc[-1]}]",
                service=service,
                hint=f"step types: {', '.join(STEP_TYPES)}",
            )
        return None
    step_type = StepType(type_keys[0])
    options_raw = {k: v for k, v in raw.items() if k in STEP_COMMON_KEYS}
    try:
        options = _StepOptions.model_validate(options_raw)
    except ValidationError as exc:
        for item in exc.errors():
            errors.add(
                _describe(item, item["loc"][-1] if item["loc"] else ""),
                (*loc, *item["loc"]),
                key=f"steps[{loc[-1]}].{'.'.join(str(p) for p in item['loc'])}",
                service=service,
            )
        return None
    if options.vars is not None and step_type is not StepType.ANSIBLE:
        errors.add(
            "'vars' applies to ansible steps only",
            (*loc, "vars"),
            key=f"steps[{loc[-1]}].vars",
            service=service,
        )
    argument = _step_argument(step_type, raw[step_type.value], playbook_dir, errors, loc, service)
    return StepSpec(
        type=step_type,
        argument=argument,
        name=options.name,
        timeout_s=_duration(options.timeout, errors, (*loc, "timeout"), service),
        retries=options.retries,
        estimate_s=_duration(options.estimate, errors, (*loc, "estimate"), service),
        platform=Platform(options.platform) if options.platform else None,
        idempotent=options.idempotent,
        vars=tuple(sorted((options.vars or {}).items())),
    )


def _step_argument(
    step_type: StepType,
    value: Any,
    playbook_dir: Path,
    errors: _Collector,
    loc: PathKey,
    service: str,
) -> Any:
    key = f"steps[{loc[-1]}].{step_type.value}"
    where = (*loc, step_type.value)
    needs_text = {
        StepType.ANSIBLE: "a playbook path",
        StepType.SSH: "a shell command",
        StepType.WINRM: "a PowerShell script",
        StepType.APPROVE: "the message the approver confirms",
    }
    if step_type in needs_text:
        if not isinstance(value, str) or not value.strip():
            errors.add(f"needs {needs_text[step_type]}", where, key=key, service=service)
            return None
        if step_type is StepType.ANSIBLE:
            return str(_playbook(value, playbook_dir, errors, where, service))
        if step_type is StepType.WINRM:
            _powershell_parses(value, errors, where, key, service)
        return value
    if step_type is StepType.HEALTH:
        return _health_probe(value, errors, where, key, service)
    if step_type is StepType.DIRECTORY:
        from restore.directory.role import ACTIONS

        if value not in ACTIONS:
            errors.add(
                f"unknown directory action {value!r}",
                where,
                key=key,
                service=service,
                hint=did_you_mean(str(value), ACTIONS) or f"one of {', '.join(ACTIONS)}",
            )
            return None
        return value
    if value is not None:
        errors.add(
            f"'{step_type.value}' takes no value",
            where,
            key=key,
            service=service,
            hint=f"write `- {step_type.value}`",
        )
    return None


def _powershell_parses(
    script: str, errors: _Collector, where: PathKey, key: str, service: str
) -> None:
    """A winrm: step's PowerShell must parse here, not fail on the night on a real host."""
    from restore.inputs.powershell_syntax import syntax_problems

    for problem in syntax_problems(script, limit=3):
        errors.add(
            f"the PowerShell does not parse (script line {problem.line}, column "
            f"{problem.column}): {problem.message}",
            where,
            key=key,
            service=service,
            hint="fix the script; `restore validate` parses every winrm: step",
        )


def _health_probe(
    value: Any, errors: _Collector, where: PathKey, key: str, service: str
) -> dict[str, Any] | None:
    example = "e.g. `health: {tcp: 8443}`, `{http: https://lis.test/health}` or `{command: CMD}`"
    if not isinstance(value, dict) or len(value) != 1:
        errors.add(
            "needs exactly one probe: tcp, http or command",
            where,
            key=key,
            service=service,
            hint=example,
        )
        return None
    ((probe, target),) = value.items()
    if probe not in HEALTH_PROBES:
        errors.add(
            f"unknown probe '{probe}'",
            where,
            key=key,
            service=service,
            hint=did_you_mean(str(probe), HEALTH_PROBES) or example,
        )
        return None
    if probe == "tcp" and not (
        isinstance(target, int) and not isinstance(target, bool) and 0 < target < 65536
    ):
        errors.add(
            f"tcp probe needs a port number 1-65535, got {target!r}",
            where,
            key=key,
            service=service,
        )
        return None
    if probe != "tcp" and (not isinstance(target, str) or not target.strip()):
        errors.add(f"{probe} probe needs a non-empty string", where, key=key, service=service)
        return None
    if probe == "command":
        # Run as an argv list, never by a shell (restore.execution.steps.health): it must split now.
        try:
            for part in shlex.split(target):
                part.format(host="h", name="n")
        except (KeyError, IndexError, ValueError) as exc:
            errors.add(
                f"command probe {target!r} cannot be split into arguments: {exc}",
                where,
                key=key,
                service=service,
                hint="it runs without a shell; placeholders are {host} and {name}",
            )
            return None
    return {probe: target}


def _written_ids(data: dict[str, Any]) -> set[str]:
    """Every service id written in the file, even on a service refused for another reason:
    a dependency on it is not 'unknown'."""
    raw = data.get("services")
    entries = raw if isinstance(raw, list) else []
    return {e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}


def _check_references(
    services: list[ServiceSpec], indices: list[int], written: set[str], errors: _Collector
) -> None:
    seen: dict[str, int] = {}
    for index, svc in zip(indices, services, strict=True):
        if svc.id in seen:
            errors.add(
                f"duplicate service id '{svc.id}' (first defined as service #{seen[svc.id] + 1})",
                ("services", index, "id"),
                key="id",
                service=svc.id,
            )
        else:
            seen[svc.id] = index
    for index, svc in zip(indices, services, strict=True):
        for dep_index, dep in enumerate(svc.depends_on):
            if dep == svc.id:
                errors.add(
                    "a service cannot depend on itself",
                    ("services", index, "depends_on", dep_index),
                    key="depends_on",
                    service=svc.id,
                )
            elif dep not in seen and dep not in written:
                errors.add(
                    f"unknown dependency '{dep}'",
                    ("services", index, "depends_on", dep_index),
                    key="depends_on",
                    service=svc.id,
                    hint=did_you_mean(dep, written) or "depends_on lists service ids",
                )
    graph = to_digraph(services)
    graph.remove_edges_from(nx.selfloop_edges(graph))  # reported above
    if nx.is_directed_acyclic_graph(graph):  # fast path; find_cycle only to explain a cycle
        return
    cycle = nx.find_cycle(graph)
    members = [edge[0] for edge in cycle] + [cycle[0][0]]
    errors.add(
        "dependency cycle: " + " -> ".join(members),
        ("services", seen[members[0]], "depends_on"),
        key="depends_on",
        service=members[0],
        hint="a service cannot (indirectly) need itself; remove one depends_on entry",
    )


def to_digraph(services: Iterable[ServiceSpec]) -> nx.DiGraph:
    """Edges run from a dependency to its dependent (DESIGN §3)."""
    graph = nx.DiGraph()
    for svc in services:
        graph.add_node(svc.id)
    for svc in services:
        for dep in svc.depends_on:
            graph.add_edge(dep, svc.id)
    return graph
