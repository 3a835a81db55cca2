"""Which functions carry out each step type: the kinds' runner and dry-run describer names
(restore.inputs.step_kinds), resolved here, once, when the engine loads.

A kind whose runner or describer is missing stops the import with an error naming the kind,
rather than failing a host on the night (or, worse, leaving a dry run with nothing but the
runner to call). The functions themselves live in restore.execution.steps (one module per
step type: `run(ctx)` and `would(ctx)`, both returning a StepOutcome) and, for a domain
controller's directory, in restore.directory.step.

`RUNNERS` may be overridden per engine (tests provoke verdicts with stand-ins); `DESCRIBERS`
may not: the engine's dispatch reads them from here, so that a dry run calls no runner at all,
whatever runners the engine was given (restore.execution.engine.dispatch).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import cast

from restore.execution.steps.base import StepContext, StepOutcome
from restore.inputs.step_kinds import StepKind, kinds
from restore.models import StepType

Runner = Callable[[StepContext], StepOutcome]
# Same shape as a runner, different promise: it touches no host (it may read the inventory,
# the graph and the local catalog) and says what the runner would do, with `dry(...)`.
Describer = Callable[[StepContext], StepOutcome]


class MissingRunner(RuntimeError):
    """A step kind names a runner that cannot be loaded: a packaging or programming error."""


class MissingDescriber(MissingRunner):
    """A step kind names no dry-run describer, or one that cannot be loaded."""


def _resolve(
    kind: StepKind, role: str, name: str, error: type[MissingRunner]
) -> Callable[[StepContext], StepOutcome]:
    """The function `name` ("module:function") names, for `role` of `kind`."""
    module_name, _, function = name.partition(":")
    if not module_name or not function:
        raise error(f"step kind {kind.name!r}: {role} {name!r} is not 'module:function'")
    try:
        found = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise error(f"step kind {kind.name!r}: {role} {name!r} cannot be loaded: {exc}") from exc
    if not callable(found):
        raise error(f"step kind {kind.name!r}: {role} {name!r} is not callable")
    return cast(Callable[[StepContext], StepOutcome], found)


def resolve_runner(kind: StepKind) -> Runner:
    """The function a kind's `runner` ("module:function") names."""
    return _resolve(kind, "runner", kind.runner, MissingRunner)


def resolve_describer(kind: StepKind) -> Describer:
    """The function a kind's `dry_run` ("module:function") names; a kind without one is
    refused: its dry run would have nothing safe to call."""
    if not kind.dry_run:
        raise MissingDescriber(
            f"step kind {kind.name!r} has no dry-run describer: name one in its `dry_run` "
            "('module:function')"
        )
    return _resolve(kind, "dry-run describer", kind.dry_run, MissingDescriber)


RUNNERS: Mapping[StepType, Runner] = MappingProxyType(
    {kind.type: resolve_runner(kind) for kind in kinds()}
)
DESCRIBERS: Mapping[StepType, Describer] = MappingProxyType(
    {kind.type: resolve_describer(kind) for kind in kinds()}
)

__all__ = [
    "DESCRIBERS",
    "RUNNERS",
    "Describer",
    "MissingDescriber",
    "MissingRunner",
    "Runner",
    "resolve_describer",
    "resolve_runner",
]
