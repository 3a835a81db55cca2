"""A service's steps in the graph file -> StepSpec, each checked by its kind.

The common keys (`name`, `timeout`, `retries`, `estimate`, `platform`, `idempotent`, `vars`)
are the same for every step; the argument after the type (`ansible: rebuild.yml`) is parsed
by the kind's own parser (restore.inputs.step_kinds), so that a step type is declared in one
place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, ValidationError

from restore.inputs import graph_problems
from restore.inputs.graph_problems import Collector
from restore.inputs.graph_schema import Strict, describe
from restore.inputs.step_kinds import StepKind, kind_named, kinds, step_names
from restore.inputs.typos import did_you_mean
from restore.inputs.yaml_source import PathKey
from restore.models import Platform, StepSpec

STEP_COMMON_KEYS = ("name", "timeout", "retries", "estimate", "platform", "idempotent", "vars")


class _StepOptions(Strict):
    name: str | None = None
    timeout: str | None = None
    retries: Annotated[StrictInt, Field(ge=0)] = 0
    estimate: str | None = None
    platform: Literal["linux", "windows"] | None = None
    idempotent: StrictBool = True
    vars: dict[str, Any] | None = None


class _Site:
    """Where one step's argument is written: its problems are reported at `steps[i].TYPE`."""

    def __init__(
        self, kind: StepKind, errors: Collector, loc: PathKey, service: str, playbook_dir: Path
    ) -> None:
        self.step_name = kind.name
        self._errors = errors
        self._where: PathKey = (*loc, kind.name)
        self._key = f"steps[{loc[-1]}].{kind.name}"
        self._service = service
        self._playbook_dir = playbook_dir

    def problem(self, message: str, hint: str | None = None) -> None:
        self._errors.add(message, self._where, key=self._key, service=self._service, hint=hint)

    def playbook(self, ref: str) -> Path:
        return graph_problems.playbook(
            ref, self._playbook_dir, self._errors, self._where, self._service
        )


def parse_step(
    raw: str | dict[str, Any], playbook_dir: Path, errors: Collector, loc: PathKey, service: str
) -> StepSpec | None:
    """One entry of `steps:`; None when it is refused (every problem reported)."""
    if isinstance(raw, str):
        raw = {raw: None}
    kind = _kind_of_entry(raw, errors, loc, service)
    if kind is None:
        return None
    options = _options(raw, errors, loc, service)
    if options is None:
        return None
    if options.vars is not None and not kind.takes_vars:
        takers = ", ".join(k.name for k in kinds() if k.takes_vars)
        errors.add(
            f"'vars' applies to {takers} steps only",
            (*loc, "vars"),
            key=f"steps[{loc[-1]}].vars",
            service=service,
        )
    site = _Site(kind, errors, loc, service, playbook_dir)
    return StepSpec(
        type=kind.type,
        argument=kind.parse_argument(raw[kind.name], site),
        name=options.name,
        timeout_s=graph_problems.duration(options.timeout, errors, (*loc, "timeout"), service),
        retries=options.retries,
        estimate_s=graph_problems.duration(options.estimate, errors, (*loc, "estimate"), service),
        platform=Platform(options.platform) if options.platform else None,
        idempotent=options.idempotent,
        vars=tuple(sorted((options.vars or {}).items())),
    )


def _kind_of_entry(
    raw: dict[str, Any], errors: Collector, loc: PathKey, service: str
) -> StepKind | None:
    """The one step type a step entry names; every unknown key is reported."""
    names = step_names()
    type_keys = [k for k in raw if k in names]
    unknown = [k for k in raw if k not in names and k not in STEP_COMMON_KEYS]
    for key in unknown:
        errors.add(
            f"unknown step type or key '{key}'",
            (*loc, key),
            key=f"steps[{loc[-1]}].{key}",
            service=service,
            hint=did_you_mean(key, names + STEP_COMMON_KEYS) or f"step types: {', '.join(names)}",
        )
    if len(type_keys) != 1:
        if not unknown:
            errors.add(
                "a step needs exactly one type"
                + (f", found {', '.join(type_keys)}" if type_keys else ""),
                loc,
                key=f"steps[{loc[-1]}]",
                service=service,
                hint=f"step types: {', '.join(names)}",
            )
        return None
    return kind_named(type_keys[0])


def _options(
    raw: dict[str, Any], errors: Collector, loc: PathKey, service: str
) -> _StepOptions | None:
    try:
        return _StepOptions.model_validate({k: v for k, v in raw.items() if k in STEP_COMMON_KEYS})
    except ValidationError as exc:
        for item in exc.errors():
            errors.add(
                describe(item, item["loc"][-1] if item["loc"] else ""),
                (*loc, *item["loc"]),
                key=f"steps[{loc[-1]}].{'.'.join(str(p) for p in item['loc'])}",
                service=service,
            )
        return None
