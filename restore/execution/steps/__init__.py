"""One module per step type (DESIGN §3); `RUNNERS` maps each type to its `run(ctx)`."""

from __future__ import annotations

from collections.abc import Callable

from restore.directory import step as directory_step
from restore.execution.steps import (
    approve,
    check,
    evidence,
    health,
    network,
    playbook,
    reimage,
    remote,
)
from restore.execution.steps.base import StepContext, StepOutcome
from restore.models import StepType

RUNNERS: dict[StepType, Callable[[StepContext], StepOutcome]] = {
    StepType.EVIDENCE: evidence.run,
    StepType.CHECK: check.run,
    StepType.REIMAGE: reimage.run,
    StepType.ANSIBLE: playbook.run,
    StepType.SSH: remote.run,
    StepType.WINRM: remote.run,
    StepType.HEALTH: health.run,
    StepType.APPROVE: approve.run,
    StepType.RECONNECT: network.run,
    StepType.QUARANTINE: network.run,
    StepType.DIRECTORY: directory_step.run,
}

__all__ = ["RUNNERS", "StepContext", "StepOutcome"]
