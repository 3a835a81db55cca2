"""`approve: MESSAGE`: wait for a person to say yes, recorded in the journal.

The approval comes from `restore approve HOST --by NAME` (any terminal, any process): it is a
journal row naming this step's key, so it survives a crash and appears in the report. A gate
interrupted before its approval waits again on --resume; an approval given for it counts.
With `--yes` (a rehearsal) the engine approves itself, and the journal says so.
"""

from __future__ import annotations

from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, succeeded

POLL_S = 0.5


def _request(ctx: StepContext) -> str:
    return str(ctx.step.argument or "operator approval")


def would(ctx: StepContext) -> StepOutcome:
    """The dry run's: no approval is journaled, nobody approved anything; the gate is named."""
    message = _request(ctx)
    return dry(
        f"would wait for `restore approve {ctx.host.name} --by NAME`: {message}",
        gate=f"approval: {message}",
        request=message,
    )


def run(ctx: StepContext) -> StepOutcome:
    message = _request(ctx)
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
        for event in ctx.journal.events(ctx.run_id, host=ctx.host.name):
            # An approval names this gate's step key (`restore approve` checks and records
            # it; it may come ahead of time); an unnamed one counts only once the gate waits.
            if event.step not in (ctx.step_key, None) or (
                event.step is None and event.seq <= ctx.start_seq
            ):
                continue
            if event.event == "approved":
                return succeeded(
                    f"approved by {event.detail.get('by')}",
                    by=event.detail.get("by"),
                    reason=event.detail.get("reason"),
                    request=message,
                )
            if event.event == "rejected" and event.seq > ctx.start_seq:
                return failed(f"rejected by {event.detail.get('by')}", request=message)
        ctx.cancel.wait(POLL_S)
    # Cancelled: at the deadline, or by a stop signal (the engine then journals the step as
    # interrupted, not this).
    return failed("no approval before the step's deadline", request=message)
