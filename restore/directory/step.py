"""`directory: rotate_krbtgt`: the directory step of a domain controller's runbook.

Journaled like any step: the detail holds the key versions and dates, never a password.
A dry run connects to nothing and changes nothing: it says what the real run would do.
The other domain controllers of the inventory (`restore_role: domain_controller`) of the
same domain (`restore_ad_domain`, when an inventory holds several domains) are the replicas
the rotation waits for between its two resets.
"""

from __future__ import annotations

from restore.directory.role import ACTIONS, is_domain_controller
from restore.models import HostSpec
from restore.steps.base import StepContext, StepOutcome, dry, failed, refused, succeeded


def run(ctx: StepContext) -> StepOutcome:
    action = str(ctx.step.argument)
    if action not in ACTIONS:
        return refused(f"unknown directory action {action!r}; one of {', '.join(ACTIONS)}")
    if not is_domain_controller(ctx.host):
        return refused(
            f"{ctx.host.name} is not a domain controller (restore_role: domain_controller)"
        )
    replicas = _replicas(ctx)
    names = ", ".join(r.name for r in replicas) or "none"
    if ctx.dry_run:
        return dry(
            f"would reset krbtgt's password twice on {ctx.host.name} over LDAPS, waiting "
            f"between the resets for the other domain controllers ({names})",
            replicas=[r.name for r in replicas],
        )
    from restore.directory.connection import DirectoryError
    from restore.directory.rotation import rotate_krbtgt

    ctx.progress(f"rotating krbtgt on {ctx.host.name} (replicas: {names})")
    try:
        rotation = rotate_krbtgt(
            ctx.host,
            replicas,
            replication_timeout_s=max(30.0, ctx.timeout_s - 60.0),
            cancelled=ctx.cancel.is_set,
        )
    except DirectoryError as exc:
        return failed(str(exc))
    before, after = rotation.before, rotation.after
    return succeeded(
        f"krbtgt rotated twice: key version {before.key_version} -> {after.key_version}",
        key_version_before=before.key_version,
        key_version_after=after.key_version,
        password_set_before=before.password_set.isoformat() if before.password_set else None,
        password_set_after=after.password_set.isoformat() if after.password_set else None,
        replicas=list(rotation.replicas),
    )


def _replicas(ctx: StepContext) -> list[HostSpec]:
    from restore.inventory import load_inventory

    inventory = load_inventory(ctx.inventory_path, with_secrets=True)
    domain = ctx.host.var("restore_ad_domain")
    return [
        h
        for h in inventory.hosts
        if is_domain_controller(h)
        and h.name != ctx.host.name
        and h.var("restore_ad_domain") == domain
    ]
