"""The graph file's shapes and types (DESIGN §3), declared with pydantic, and its refusals
said in plain words.

Services are validated one by one, so that one bad service does not hide the problems of the
others; a service refused for one key is salvaged (the key dropped or stood in for) so that
its other keys are still checked. The cross-references come after, on the typed model
(restore.inputs.graph_references).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from restore.inputs.graph_problems import Collector
from restore.inputs.typos import did_you_mean
from restore.inputs.yaml_source import PathKey

SERVICE_ID_PATTERN = r"^[a-z0-9_-]+$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Incident(Strict):
    declared_at: datetime | str


class Network(Strict):
    quarantine: str | None = None
    reconnect: str | None = None


class Rehearsal(Strict):
    seed: list[str] | str = []
    vault_password_file: str | None = None


class ServiceShape(Strict):
    id: Annotated[str, Field(pattern=SERVICE_ID_PATTERN)]
    name: str | None = None
    priority: Annotated[StrictInt, Field(ge=0)]
    hosts: Annotated[list[str], Field(min_length=1)]
    depends_on: list[str] = []
    rto: str | None = None
    max_parallel: Annotated[StrictInt, Field(ge=1)] = 1
    steps: list[str | dict[str, Any]] | None = None


class GraphShape(Strict):
    version: Literal[1]
    name: str
    incident: Incident | None = None
    playbook_dir: str | None = None
    network: Network | None = None
    rehearsal: Rehearsal | None = None
    services: Annotated[list[ServiceShape], Field(min_length=1)]


_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "graph": tuple(GraphShape.model_fields),
    "service": tuple(ServiceShape.model_fields),
    "incident": tuple(Incident.model_fields),
    "network": tuple(Network.model_fields),
    "rehearsal": tuple(Rehearsal.model_fields),
}


def _known_keys_for(loc: PathKey) -> tuple[str, ...]:
    parents = [p for p in loc[:-1] if isinstance(p, str)]
    if not parents:
        return _KNOWN_KEYS["graph"]
    if parents == ["services"]:
        return _KNOWN_KEYS["service"]
    return _KNOWN_KEYS.get(parents[-1], ())


_UNION_MEMBERS = frozenset({"str", "dict[str,any]", "datetime"})
_PLAIN_KINDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "bool_type": "true or false",
    "datetime_type": "a date and time",
}


def describe(item: Any, last: object) -> str:
    """A pydantic error in plain words, echoing the offending value: `priority: high` ->
    "priority 'high' is not an integer"."""
    kind = item["type"]
    value = item.get("input")
    ctx = item.get("ctx") or {}
    name = str(last) if last != "" else "value"
    if kind in _PLAIN_KINDS:
        return f"{name} {value!r} is not {_PLAIN_KINDS[kind]}"
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


def report_validation(errors: Collector, exc: ValidationError, prefix: PathKey = ()) -> None:
    reported: set[tuple[PathKey, str]] = set()
    for item in exc.errors():
        # pydantic appends the union member name to the location; drop those.
        loc: PathKey = prefix + tuple(
            p for p in item["loc"] if not (isinstance(p, str) and p in _UNION_MEMBERS)
        )
        kind = item["type"]
        last = loc[-1] if loc else ""
        if any(seen == loc for seen, _ in reported) and kind in _PLAIN_KINDS:
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
            errors.add(describe(item, last), loc)


class GraphOutline(GraphShape):
    """The graph's top level with each service left unvalidated: services are validated one
    by one, so that one bad service does not hide the problems of the others."""

    services: Annotated[list[Any], Field(min_length=1)]


def validated(errors: Collector, data: dict[str, Any]) -> tuple[GraphShape, list[int]]:
    """The graph with every service that is valid on its own, and their indices in the file.
    Every shape problem is collected, not just the first service's."""
    top: dict[str, Any]
    try:
        shell = GraphOutline.model_validate(data)
        top = {name: getattr(shell, name) for name in GraphShape.model_fields if name != "services"}
    except ValidationError as exc:
        report_validation(errors, exc)
        top = {
            "version": 1,
            "name": data.get("name") if isinstance(data.get("name"), str) else "",
            "playbook_dir": data.get("playbook_dir")
            if isinstance(data.get("playbook_dir"), str)
            else None,
        }
    raw_services = data.get("services")
    services: list[ServiceShape] = []
    indices: list[int] = []
    for index, raw in enumerate(raw_services if isinstance(raw_services, list) else []):
        try:
            services.append(ServiceShape.model_validate(raw))
            indices.append(index)
        except ValidationError as exc:
            report_validation(errors, exc, ("services", index))
            salvaged = _salvage(raw, exc)
            if salvaged is not None:
                services.append(salvaged)
                indices.append(index)
    return GraphShape.model_construct(**top, services=services), indices


# Stand-ins for a required key whose value was refused, so that the service's other keys
# (durations, playbooks, dependencies) are still checked. The graph is refused anyway.
_STAND_INS: dict[str, Any] = {"priority": 0, "hosts": ["-"]}


def _salvage(raw: Any, exc: ValidationError) -> ServiceShape | None:
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
        return ServiceShape.model_validate(fixed)
    except ValidationError:
        return None
