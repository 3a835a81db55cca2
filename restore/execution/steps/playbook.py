"""`ansible: PLAYBOOK`: rebuild or restore through ansible-runner, limited to the host.

A dry run says which playbook would run where, without running it (not even in check mode,
which connects to the host). The step's `vars` become extra vars; values of variables whose
names look secret are passed but scrubbed from the artifacts and never journaled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from restore.execution.steps.ansible_job import run_job
from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, succeeded
from restore.secrets import redact


def _extravars(ctx: StepContext) -> dict[str, Any]:
    extravars = dict(ctx.step.vars)
    if ctx.graph.incident_declared_at is not None:
        # roles such as restore_data pick the last backup taken before this moment
        extravars.setdefault(
            "restore_incident_start", ctx.graph.incident_declared_at.isoformat(timespec="seconds")
        )
    return extravars


def would(ctx: StepContext) -> StepOutcome:
    """The dry run's: not even check mode, which would connect to the host."""
    playbook = Path(str(ctx.step.argument))
    names = ", ".join(sorted(redact(_extravars(ctx), ctx.secrets))) or "none"
    return dry(
        f"would run playbook {playbook} limited to {ctx.host.name} (extra vars: {names})",
        playbook=str(playbook),
    )


def run(ctx: StepContext) -> StepOutcome:
    playbook = Path(str(ctx.step.argument))
    extravars = _extravars(ctx)
    safe = redact(extravars, ctx.secrets)
    secret = {k: v for k, v in extravars.items() if safe.get(k) != v}
    public = {k: v for k, v in extravars.items() if k not in secret}
    result = run_job(ctx, playbook, public, secret)
    # check_mode stays in the detail the journal has always held; a runner never runs in a
    # dry run (the engine calls `would` instead), so it is never check mode
    detail = {"playbook": str(playbook), "check_mode": False, "ansible": result.to_json()}
    if result.ok:
        return succeeded(result.message, **detail)
    if result.failures:  # which task failed, where and why: for the console, journal, report
        detail["failure"] = result.failures[0]
    return failed(f"playbook {playbook.name}: {result.message}", **detail)
