"""`evidence`: copy and hash what the attack left, before anything is changed or wiped.

The catalog examines the host and the evidence store copies what failed findings name, with
a custody record (restore.integrity.evidence); nothing is ever deleted on the host. In a dry run
nothing is collected (a custody chain for a rehearsal that did not happen would mislead): the
step says what it would collect, which satisfies the reimage gate of that dry run only.
The verdict seen here is kept as `observed_verdict`: only a `check` step opens the gates.
"""

from __future__ import annotations

from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, succeeded
from restore.execution.steps.check import finding_json
from restore.execution.steps.integrity import examine
from restore.integrity.evidence import read_custody
from restore.models import FindingStatus, Verdict


def would(ctx: StepContext) -> StepOutcome:
    """What a real evidence step would do on this host, said without touching it."""
    from restore.directory.role import is_domain_controller
    from restore.integrity.checks.runner import catalog_for

    checks = [c.name for c in catalog_for(ctx.host.platform).checks]
    via = "WinRM" if ctx.host.platform.value == "windows" else "SSH"
    directory = (
        ", and read its directory over LDAPS and its SYSVOL over SMB (the dir-* checks; the "
        "entries and files they name are kept too)"
        if is_domain_controller(ctx.host)
        else ""
    )
    return dry(
        f"would examine {ctx.host.name} over {via} with the {len(checks)} checks of the "
        f"{ctx.host.platform.value} catalog ({', '.join(checks)}){directory}, then copy and "
        f"hash every file a failed finding names into "
        f"{ctx.state_dir / 'evidence' / ctx.host.name} with a custody record; nothing on the "
        "host is changed or deleted"
    )


def run(ctx: StepContext) -> StepOutcome:
    before = len(read_custody(ctx.state_dir, ctx.host.name))
    result = examine(ctx, collect_evidence=True)
    if result.verdict is Verdict.UNREACHABLE:
        why = "; ".join(f.detail for f in result.findings if f.status is not FindingStatus.PASS)
        return failed(
            f"{ctx.host.name} unreachable: no evidence collected ({why or 'no detail'})",
            findings=[finding_json(f) for f in result.findings],
        )
    custody = read_custody(ctx.state_dir, ctx.host.name)[before:]
    items = [
        {
            "path": r.get("remote_path"),
            "sha256": r.get("sha256"),
            "remote_sha256": r.get("remote_sha256"),
            "size": r.get("size"),
            "truncated": r.get("truncated"),
            "stored_as": r.get("stored_as"),
            "collected_by": r.get("collected_by"),
            "collected_at": r.get("collected_at"),
        }
        for r in custody
    ]
    return succeeded(
        f"{len(items)} item(s) copied and hashed",
        evidence_items=items,
        observed_verdict=result.verdict.value,
        findings=[finding_json(f) for f in result.findings if f.status is not FindingStatus.PASS],
    )
