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

from restore.durations import DURATION_HELP, parse_duration
from restore.errors import InputError, InputErrors
from restore.models import GraphSpec, NetworkSpec, Platform, ServiceSpec, StepSpec, StepType
from restore.yamlsource import PathKey, YamlDocument, load_yaml

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
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InputErrors(self.errors)


_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "graph": tuple(_Graph.model_fields),
    "service": tuple(_Service.model_fields),
    "incident": tuple(_Incident.model_fields),
    "network": tuple(_Network.model_fields),
}


def _known_keys_for(loc: PathKey) -> tuple[str, ...]:
    parents = [p for p in loc[:-1] if isinstance(p, str)]
    if not parents:
        return _KNOWN_KEYS["graph"]
    if parents == ["services"]:
        return _KNOWN_KEYS["service"]
    return _KNOWN_KEYS.get(parents[-1], ())


def _report_validation(errors: _Collector, exc: ValidationError) -> None:
    for item in exc.errors():
        # pydantic appends the union member name to the location; drop those.
        loc: PathKey = tuple(
            p for p in item["loc"] if not (isinstance(p, str) and p in {"str", "dict[str,any]"})
        )
        kind = item["type"]
        last = loc[-1] if loc else ""
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
            errors.add("unsupported version", loc, hint="this tool reads `version: 1`")
        elif kind == "string_pattern_mismatch":
            errors.add(
                f"invalid id {item.get('input')!r}",
                loc,
                hint="use lowercase letters, digits, '-' and '_' only",
            )
        else:
            errors.add(item["msg"], loc)


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
    try:
        model = _Graph.model_validate(doc.data)
    except ValidationError as exc:
        _report_validation(errors, exc)
        errors.raise_if_any()
        raise AssertionError("unreachable") from exc  # pragma: no cover

    base_dir = graph_path.parent
    playbook_dir = (base_dir / model.playbook_dir) if model.playbook_dir else base_dir
    if model.playbook_dir and not playbook_dir.is_dir():
        errors.add(
            f"playbook_dir {model.playbook_dir!r} is not a directory (resolved to {playbook_dir})",
            ("playbook_dir",),
        )

    incident_at = _incident_time(model, errors)
    network = _network(model, playbook_dir, errors)
    services = [
        _service(index, svc, playbook_dir, errors) for index, svc in enumerate(model.services)
    ]
    _check_references(services, errors)
    errors.raise_if_any()
    return GraphSpec(
        path=graph_path,
        name=model.name,
        services=tuple(services),
        version=model.version,
        incident_declared_at=incident_at,
        playbook_dir=playbook_dir,
        network=network,
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
                item["msg"],
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
        return value
    if step_type is StepType.HEALTH:
        return _health_probe(value, errors, where, key, service)
    if value is not None:
        errors.add(
            f"'{step_type.value}' takes no value",
            where,
            key=key,
            service=service,
            hint=f"write `- {step_type.value}`",
        )
    return None


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
        # Run as an argv list, never by a shell (restore.steps.health): it must split now.
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


def _check_references(services: list[ServiceSpec], errors: _Collector) -> None:
    seen: dict[str, int] = {}
    for index, svc in enumerate(services):
        if svc.id in seen:
            errors.add(
                f"duplicate service id '{svc.id}' (first defined as service #{seen[svc.id] + 1})",
                ("services", index, "id"),
                key="id",
                service=svc.id,
            )
        else:
            seen[svc.id] = index
    for index, svc in enumerate(services):
        for dep_index, dep in enumerate(svc.depends_on):
            if dep == svc.id:
                errors.add(
                    "a service cannot depend on itself",
                    ("services", index, "depends_on", dep_index),
                    key="depends_on",
                    service=svc.id,
                )
            elif dep not in seen:
                errors.add(
                    f"unknown dependency '{dep}'",
                    ("services", index, "depends_on", dep_index),
                    key="depends_on",
                    service=svc.id,
                    hint=did_you_mean(dep, seen) or "depends_on lists service ids",
                )
    if errors.errors:
        return
    graph = to_digraph(services)
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
