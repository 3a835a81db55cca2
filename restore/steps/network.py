"""`quarantine` and `reconnect`: cut or restore a host's production network.

Through the lab (a lab inventory host has `restore_lab`), else through the graph's `network`
playbooks run with ``-e target_host=HOST``. Gate (DESIGN §5): reconnect refuses a host whose
most recent check verdict is not clean; a reimage resets the verdict, so a rebuilt host
rejoins only after a clean re-check.
"""

from __future__ import annotations

import threading
from pathlib import Path

from restore.models import StepType, Verdict
from restore.steps.ansible_job import run_job
from restore.steps.base import StepContext, StepOutcome, dry, failed, refused, succeeded

_LAB_LOCK = threading.Lock()


def run(ctx: StepContext) -> StepOutcome:
    reconnect = ctx.step.type is StepType.RECONNECT
    action = "reconnect" if reconnect else "quarantine"
    if ctx.dry_run:  # no verdict exists in a dry run: the gate is named, not decided
        lab = ctx.host.var("restore_lab")
        book = ctx.graph.network.reconnect if reconnect else ctx.graph.network.quarantine
        if not lab and book is None:  # what the real run would meet here
            return failed(
                f"no way to {action} {ctx.host.name}: the graph has no network.{action} playbook"
            )
        via = "the lab" if lab else f"playbook {book}"
        return dry(
            f"would {action} {ctx.host.name} through {via}",
            gate="reconnect needs the host's latest check to be clean" if reconnect else None,
            via="lab" if lab else str(book),
        )
    if reconnect and ctx.facts.verdict is not Verdict.CLEAN:
        seen = ctx.facts.verdict.value if ctx.facts.verdict else "none since the last change"
        return refused(
            f"refusing to reconnect {ctx.host.name}: its most recent check verdict is {seen}, "
            "not clean; it stays quarantined",
            verdict=ctx.facts.verdict.value if ctx.facts.verdict else None,
        )
    lab = ctx.host.var("restore_lab")
    playbook = ctx.graph.network.reconnect if reconnect else ctx.graph.network.quarantine
    if lab:
        from restore.lab import Lab

        with _LAB_LOCK:
            Lab(Path(str(lab))).quarantine(ctx.host.name, on=not reconnect)
        return succeeded(f"{action}ed through the lab", via="lab")
    if playbook is None:
        return failed(
            f"no way to {action} {ctx.host.name}: the graph has no network.{action} playbook"
        )
    result = run_job(ctx, playbook, {"target_host": ctx.host.name})
    detail = {"via": str(playbook), "ansible": result.to_json()}
    if result.ok:
        return succeeded(f"{action}ed", **detail)
    if result.failures:
        detail["failure"] = result.failures[0]
    return failed(f"{action} playbook: {result.message}", **detail)
