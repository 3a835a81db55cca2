"""The one bridge from steps to the check catalog (restore.integrity.checks) and evidence store.

`check` and `evidence` both examine the host with the same catalog; `evidence` additionally
copies and hashes what failed findings point at (restore.integrity.evidence, never deleting anything
on the host). Baselines are read from `<state dir>/baselines` when present.
"""

from __future__ import annotations

from restore.execution.steps.base import StepContext
from restore.execution.steps.run_proof import directory_run_proof
from restore.integrity.checks.catalog import Context
from restore.integrity.checks.indicators import load_indicators
from restore.integrity.checks.runner import CheckOptions, check_host
from restore.integrity.evidence import HOST_DEADLINE_S, EvidenceStore
from restore.models import HostCheckResult


def examine(ctx: StepContext, *, collect_evidence: bool) -> HostCheckResult:
    baselines = None
    directory = ctx.state_dir / "baselines"
    if directory.is_dir():
        from restore.integrity.baseline import load_baselines

        baselines = load_baselines(directory)
    # After a reimage in this run every file of the host is new by construction: "changed
    # since the incident" would flag the golden image itself, so that check applies only to a
    # host that was not rebuilt.
    since = None if ctx.facts.reimaged else ctx.graph.incident_declared_at
    options = CheckOptions(
        context=Context(indicators=load_indicators(), since=since),
        baselines=baselines,
        # the copies get at most half the step's time: the checks need the rest
        evidence=EvidenceStore(
            ctx.state_dir,
            timeout_s=min(120.0, ctx.timeout_s),
            host_deadline_s=min(HOST_DEADLINE_S, ctx.timeout_s / 2),
        )
        if collect_evidence
        else None,
        winrm_insecure=ctx.winrm_insecure,
        connect_timeout_s=min(15.0, ctx.timeout_s),
        command_timeout_s=min(120.0, ctx.timeout_s),
        host_timeout_s=ctx.timeout_s,
        directory_since=ctx.graph.incident_declared_at,
        directory_run=directory_run_proof(ctx),
    )
    return check_host(ctx.host, options)
