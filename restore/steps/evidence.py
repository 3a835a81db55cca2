"""`evidence`: copy and hash what the attack left, before anything is changed or wiped.

Evidence is copied off the host into the state dir's evidence store with a custody record
(restore.evidence); nothing is ever deleted on the host. In a dry run nothing is collected
(the store would record a custody chain for a rehearsal that did not happen).
"""

from __future__ import annotations

from typing import Any

from restore.steps.base import StepContext, StepOutcome, dry, failed, succeeded


def collect(ctx: StepContext) -> list[dict[str, Any]]:
    """The one call into the evidence store (kept here so its signature is adapted once)."""
    from restore import evidence  # type: ignore[attr-defined]

    items = evidence.collect_evidence(
        ctx.host,
        store_dir=ctx.state_dir / "evidence",
        timeout_s=ctx.timeout_s,
        collected_by=f"restore run {ctx.run_id}",
        winrm_insecure=ctx.winrm_insecure,
    )
    return [dict(item) if isinstance(item, dict) else item.to_json() for item in items]


def run(ctx: StepContext) -> StepOutcome:
    if ctx.dry_run:
        return dry("would collect and hash evidence")
    try:
        items = collect(ctx)
    except ImportError as exc:
        return failed(f"the evidence store is not available: {exc}")
    except Exception as exc:
        return failed(f"evidence collection failed: {exc}")
    ctx.facts.evidence_collected = True
    return succeeded(f"{len(items)} item(s) collected", evidence_items=items)
