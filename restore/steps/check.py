"""`check`: the integrity verdict of the host, from the check catalog (restore.checks).

The verdict is data: a compromised host is a *successful* check whose verdict then drives the
host's state (the engine sends it to a reimage step, or leaves it quarantined). Only a host
that cannot be checked (unreachable) makes the step fail. Checks read only, so they also run
in a dry run.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from restore.models import HostCheckResult, Verdict
from restore.steps.base import StepContext, StepOutcome, failed, succeeded


def check_host(ctx: StepContext) -> HostCheckResult:
    """The one call into the check catalog (kept here so its signature is adapted once)."""
    from restore import checks

    return checks.check_host(  # type: ignore[attr-defined,no-any-return]
        ctx.host,
        timeout_s=ctx.timeout_s,
        baseline_dir=ctx.state_dir / "baselines"
        if (ctx.state_dir / "baselines").is_dir()
        else None,
        winrm_insecure=ctx.winrm_insecure,
    )


def _finding(finding: Any) -> dict[str, Any]:
    data = asdict(finding)
    data["evidence"] = list(data.get("evidence") or [])
    return {k: (v.value if hasattr(v, "value") else v) for k, v in data.items()}


def run(ctx: StepContext) -> StepOutcome:
    try:
        result = check_host(ctx)
    except ImportError as exc:
        return failed(f"the integrity check catalog is not available: {exc}")
    findings = [_finding(f) for f in result.findings if f.status.value != "pass"]
    detail = {
        "verdict": result.verdict.value,
        "findings": findings,
        "checks_run": len(result.findings),
    }
    if result.verdict is Verdict.UNREACHABLE:
        return failed(f"{ctx.host.name} could not be checked (unreachable)", **detail)
    ctx.facts.verdict = result.verdict
    return StepOutcome(
        succeeded(f"verdict {result.verdict.value}").status,
        {"message": f"verdict {result.verdict.value}", **detail},
        verdict=result.verdict,
    )
