"""`check`: the integrity verdict of the host, from the check catalog (restore.integrity.checks).

The verdict is data: a compromised host is a *successful* check whose verdict then drives the
host's state (the engine sends it to a reimage step, or leaves it quarantined). Only a host
that cannot be checked (unreachable) makes the step fail. A dry run touches no host: the
check says what it would decide (its verdict after a dry reimage could not mean anything).
"""

from __future__ import annotations

from typing import Any

from restore.execution.steps.base import StepContext, StepOutcome, dry, failed
from restore.execution.steps.integrity import examine
from restore.models import Finding, FindingStatus, Verdict


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "check": finding.check,
        "status": finding.status.value,
        "detail": finding.detail,
        "evidence": list(finding.evidence),
        "severity": finding.severity.value,
    }


def would(ctx: StepContext) -> StepOutcome:
    from restore.directory.role import is_domain_controller

    directory = " and its directory (dir-* checks)" if is_domain_controller(ctx.host) else ""
    return dry(
        f"would check {ctx.host.name} against the integrity catalog{directory}: a verdict "
        "other than clean sends it to a following reimage step, or keeps it quarantined"
    )


def run(ctx: StepContext) -> StepOutcome:
    result = examine(ctx, collect_evidence=False)
    findings = [finding_json(f) for f in result.findings if f.status is not FindingStatus.PASS]
    detail = {
        "verdict": result.verdict.value,
        "findings": findings,
        "checks_run": len(result.findings),
    }
    if result.verdict is Verdict.UNREACHABLE:
        return failed(f"{ctx.host.name} could not be checked (unreachable)", **detail)
    return StepOutcome(
        "succeeded", {"message": f"verdict {result.verdict.value}", **detail}, result.verdict
    )
