"""`approve: MESSAGE`: wait for a person to say yes, recorded in the journal.

The approval comes from `restore approve HOST --by NAME` (any terminal, any process): it is a
journal row, so it survives a crash and appears in the report. With `--yes` (a rehearsal) the
engine approves itself, and the journal says so.
"""

from __future__ import annotations

from restore.steps.base import StepContext, StepOutcome, dry, failed, succeeded

POLL_S = 0.5


def run(ctx: StepContext) -> StepOutcome:
    message = str(ctx.step.argument or "operator approval")
    if ctx.dry_run:  # no approval is journaled: nobody approved anything
        return dry(
            f"would wait for `restore approve {ctx.host.name} --by NAME`: {message}",
            gate=f"approval: {message}",
            request=message,
        )
    if ctx.assume_yes:
        ctx.journal.append(
            ctx.run_id,
            "approved",
            host=ctx.host.name,
            service=ctx.service,
            step=ctx.step_key,
            detail={"by": "restore --yes", "reason": "auto-approved (--yes)", "auto": True},
        )
        return succeeded("auto-approved (--yes)", by="restore --yes", request=message)
    ctx.progress(f"waiting: restore approve {ctx.host.name} --by NAME  ({message})")
    while not ctx.cancel.is_set():
        for event in ctx.journal.events(ctx.run_id, after_seq=ctx.start_seq):
            if event.host == ctx.host.name and event.event == "approved":
                return succeeded(
                    f"approved by {event.detail.get('by')}",
                    by=event.detail.get("by"),
                    reason=event.detail.get("reason"),
                    request=message,
                )
            if event.host == ctx.host.name and event.event == "rejected":
                return failed(f"rejected by {event.detail.get('by')}", request=message)
        ctx.cancel.wait(POLL_S)
    return failed("no approval before the step's deadline", request=message)
