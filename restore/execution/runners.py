"""Which function runs each step type: the kinds' runner names (restore.inputs.step_kinds),
resolved here, once, when the engine loads.

A kind whose runner is missing stops the import with an error naming the kind, rather than
failing a host on the night. The runners themselves live in restore.execution.steps (one
module per step type, `run(ctx) -> StepOutcome`) and, for a domain controller's directory,
in restore.directory.step.
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


class MissingRunner(RuntimeError):
    """A step kind names a runner that cannot be loaded: a packaging or programming error."""


def resolve_runner(kind: StepKind) -> Runner:
    """The function a kind's `runner` ("module:function") names."""
    module_name, _, function = kind.runner.partition(":")
    if not module_name or not function:
        raise MissingRunner(
            f"step kind {kind.name!r}: runner {kind.runner!r} is not 'module:function'"
        )
    try:
        found = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise MissingRunner(
            f"step kind {kind.name!r}: runner {kind.runner!r} cannot be loaded: {exc}"
        ) from exc
    if not callable(found):
        raise MissingRunner(f"step kind {kind.name!r}: runner {kind.runner!r} is not callable")
    return cast(Runner, found)


RUNNERS: Mapping[StepType, Runner] = MappingProxyType(
    {kind.type: resolve_runner(kind) for kind in kinds()}
)

__all__ = ["RUNNERS", "MissingRunner", "Runner", "resolve_runner"]
