"""`quarantine` and `reconnect`: cut or restore a host's production network.

Through a registered network control that claims the host (restore.execution.providers; the
lab registers one for its hosts), else through the graph's `network` playbooks run with
``-e target_host=HOST``. Gate (DESIGN §5): reconnect refuses a host whose most recent check
verdict is not clean (checked by the engine before this runner is called:
restore.execution.gates); a reimage resets the verdict, so a rebuilt host rejoins only after
a clean re-check.
"""

from __future__ import annotations

from restore.execution.gates import CLEAN_GATE
from restore.execution.providers import network_control_for
from restore.execution.steps.ansible_job import run_job
from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, succeeded
from restore.models import StepType


def _no_way(ctx: StepContext, action: str) -> StepOutcome:
    return failed(f"no way to {action} {ctx.host.name}: the graph has no network.{action} playbook")


def would(ctx: StepContext) -> StepOutcome:
    """The dry run's: no verdict exists in a dry run, so reconnect's gate is named, not
    decided; a host with no way to cut or restore its network fails as the real run would."""
    reconnect = ctx.step.type is StepType.RECONNECT
    action = "reconnect" if reconnect else "quarantine"
    control = network_control_for(ctx.host)
    book = ctx.graph.network.reconnect if reconnect else ctx.graph.network.quarantine
    if control is None and book is None:
        return _no_way(ctx, action)
    via = f"the {control.name}" if control is not None else f"playbook {book}"
    return dry(
        f"would {action} {ctx.host.name} through {via}",
        gate=CLEAN_GATE if reconnect else None,
        via=control.name if control is not None else str(book),
    )


def run(ctx: StepContext) -> StepOutcome:
    reconnect = ctx.step.type is StepType.RECONNECT
    action = "reconnect" if reconnect else "quarantine"
    control = network_control_for(ctx.host)
    playbook = ctx.graph.network.reconnect if reconnect else ctx.graph.network.quarantine
    if control is not None:
        control.isolate(ctx.host, isolated=not reconnect)
        return succeeded(f"{action}ed through the {control.name}", via=control.name)
    if playbook is None:
        return _no_way(ctx, action)
    result = run_job(ctx, playbook, {"target_host": ctx.host.name})
    detail = {"via": str(playbook), "ansible": result.to_json()}
    if result.ok:
        return succeeded(f"{action}ed", **detail)
    if result.failures:
        detail["failure"] = result.failures[0]
    return failed(f"{action} playbook: {result.message}", **detail)
