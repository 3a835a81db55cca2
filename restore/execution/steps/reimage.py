"""`reimage`: back to the golden image, through the host's reimage provider.

Gate (DESIGN §5): a host is wiped only after its evidence was collected in this run or an
operator waived it; a reimage destroys what investigators need.
"""

from __future__ import annotations

from restore.execution.reimage_providers import pin_host_key, provider_for
from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, refused, succeeded


def run(ctx: StepContext) -> StepOutcome:
    planned = ctx.dry_run and ctx.facts.evidence_planned  # a dry run's gate only
    if not (ctx.facts.evidence_collected or ctx.facts.evidence_waived or planned):
        return refused(
            f"refusing to reimage {ctx.host.name}: no evidence collected in this run and no "
            "waiver (add an `evidence` step before `reimage`, or `restore skip HOST STEP` "
            "the evidence step with a reason)"
        )
    provider = provider_for(ctx.host)
    if provider is None:
        return failed(
            f"no reimage provider for {ctx.host.name}: set restore_reimage_command (or "
            "restore_lab) for it in the inventory"
        )
    if ctx.dry_run:
        return dry(
            f"would reimage {ctx.host.name} through the {provider.name} provider and pin its "
            "new host key",
            gate="reimage needs evidence collected in this run (or waived by an operator)",
            provider=provider.name,
        )
    result = provider.reimage(ctx.host, ctx.timeout_s)
    if not result.ok:
        return failed(result.message, provider=provider.name)
    pinned: list[str] = []
    if result.host_key:
        pinned = [str(p) for p in pin_host_key(ctx.host, result.host_key)]
    ctx.facts.reimaged = True
    ctx.facts.verdict = None  # a new machine: it must be checked again before reconnecting
    return succeeded(
        result.message,
        provider=provider.name,
        host_key=result.host_key,
        known_hosts=pinned,
    )
