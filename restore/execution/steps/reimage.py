"""`reimage`: back to the golden image, through the host's reimage provider.

Gate (DESIGN §5): a host is wiped only after its evidence was collected in this run or an
operator waived it; a reimage destroys what investigators need. The engine checks it before
this runner is called (restore.execution.gates), whatever runner a caller substitutes.
"""

from __future__ import annotations

from restore.execution.gates import EVIDENCE_GATE
from restore.execution.reimage_providers import pin_host_key, provider_for
from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, succeeded


def _no_provider(ctx: StepContext) -> StepOutcome:
    return failed(
        f"no reimage provider for {ctx.host.name}: set restore_reimage_command (or "
        "restore_lab) for it in the inventory"
    )


def would(ctx: StepContext) -> StepOutcome:
    """The dry run's: which provider would wipe the host (the failure a real run would meet
    when none claims it), and the evidence gate a real run checks first."""
    provider = provider_for(ctx.host)
    if provider is None:
        return _no_provider(ctx)
    return dry(
        f"would reimage {ctx.host.name} through the {provider.name} provider and pin its "
        "new host key",
        gate=EVIDENCE_GATE,
        provider=provider.name,
    )


def run(ctx: StepContext) -> StepOutcome:
    provider = provider_for(ctx.host)
    if provider is None:
        return _no_provider(ctx)
    result = provider.reimage(ctx.host, ctx.timeout_s)
    if not result.ok:
        return failed(result.message, provider=provider.name)
    pinned: list[str] = []
    if result.host_key:
        pinned = [str(p) for p in pin_host_key(ctx.host, result.host_key)]
    # The engine's fold marks the host reimaged and forgets its verdict (a new machine must be
    # checked again before it reconnects): restore.execution.run_state.facts_after.
    return succeeded(
        result.message,
        provider=provider.name,
        host_key=result.host_key,
        known_hosts=pinned,
    )
