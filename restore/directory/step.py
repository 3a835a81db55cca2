"""`directory: rotate_krbtgt | disable_accounts`: the directory steps of a DC's runbook.

Journaled like any step: the detail holds the key versions and dates, never a password.
A dry run connects to nothing and changes nothing: `would` says what the real run would do.
The other domain controllers of the inventory (`restore_role: domain_controller`) of the
same domain (`restore_ad_domain`, when an inventory holds several domains) are the replicas
the rotation waits for between its two resets.
"""

from __future__ import annotations

from typing import Any

from restore.directory.role import ACTIONS, is_domain_controller, same_domain
from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, refused, succeeded
from restore.models import HostSpec


def _refusal(ctx: StepContext) -> StepOutcome | None:
    """Why the step cannot run on this host at all, dry run or not."""
    action = str(ctx.step.argument)
    if action not in ACTIONS:
        return refused(f"unknown directory action {action!r}; one of {', '.join(ACTIONS)}")
    if not is_domain_controller(ctx.host):
        return refused(
            f"{ctx.host.name} is not a domain controller (restore_role: domain_controller)"
        )
    return None


def would(ctx: StepContext) -> StepOutcome:
    """The dry run's: connects to nothing; the accounts to disable depend on the directory at
    run time, so only the approval gate is named."""
    refusal = _refusal(ctx)
    if refusal is not None:
        return refusal
    if str(ctx.step.argument) == "disable_accounts":
        return dry(
            f"would list the accounts the directory checks name on {ctx.host.name} (new "
            "privileged members, accounts created after the incident), wait for an approval "
            "listing them, then disable them",
            gate="approval: accounts to disable",
        )
    replicas = _replicas(ctx)
    names = ", ".join(r.name for r in replicas) or "none"
    return dry(
        f"would reset krbtgt's password twice on {ctx.host.name} over LDAPS, waiting "
        f"between the resets for the other domain controllers ({names}) that replicate "
        "with it",
        replicas=[r.name for r in replicas],
    )


def run(ctx: StepContext) -> StepOutcome:
    refusal = _refusal(ctx)
    if refusal is not None:
        return refusal
    if str(ctx.step.argument) == "disable_accounts":
        return _disable_accounts(ctx)
    replicas = _replicas(ctx)
    names = ", ".join(r.name for r in replicas) or "none"
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
    skipped = "".join(f"; {name} not waited for: {why}" for name, why in rotation.not_replicas)
    return succeeded(
        f"krbtgt rotated twice: key version {before.key_version} -> {after.key_version}{skipped}",
        action="rotate_krbtgt",
        key_version_before=before.key_version,
        key_version_after=after.key_version,
        password_set_before=before.password_set.isoformat() if before.password_set else None,
        password_set_after=after.password_set.isoformat() if after.password_set else None,
        replicas=list(rotation.replicas),
        not_replicas=[{"host": name, "why": why} for name, why in rotation.not_replicas],
    )


def _replicas(ctx: StepContext) -> list[HostSpec]:
    from restore.inputs.inventory import load_inventory

    return same_domain(ctx.host, load_inventory(ctx.inventory_paths, with_secrets=True).hosts)


def _disable_accounts(ctx: StepContext) -> StepOutcome:
    """Read the directory, list the accounts the checks name, wait for an approval that
    lists them (as `approve:` does), then disable them with the admin account."""
    from dataclasses import replace

    from restore.directory.checks import read_directory
    from restore.directory.connection import (
        DirectoryError,
        LdapTarget,
        bind_credentials,
        connect,
    )
    from restore.directory.disable import accounts_to_disable, disable
    from restore.directory.rotation import ADMIN_PREFIX
    from restore.execution.steps import approve

    try:
        snapshot = read_directory(ctx.host)
        chosen = accounts_to_disable(snapshot, ctx.graph.incident_declared_at, _baseline(ctx))
    except (DirectoryError, ValueError) as exc:
        return failed(f"could not read the directory: {exc}")
    if not chosen:
        return succeeded("no account to disable", disabled=[])
    names = [e.name for e in chosen]
    request = f"disable {len(names)} account(s) on {ctx.host.name}: {', '.join(names)}"
    gate = approve.run(replace(ctx, step=replace(ctx.step, argument=request)))
    if not gate.ok:
        return failed(f"not approved: {gate.message}", accounts=names)
    try:
        conn = connect(LdapTarget.for_host(ctx.host), *bind_credentials(ctx.host, ADMIN_PREFIX))
        try:
            done = disable(conn, chosen)
        finally:
            conn.unbind()
    except DirectoryError as exc:
        return failed(str(exc), accounts=names)
    return succeeded(
        f"disabled {len(done)} account(s): {', '.join(done)}",
        disabled=done,
        approved_by=gate.detail.get("by"),
    )


def _baseline(ctx: StepContext) -> dict[str, Any] | None:
    directory = ctx.state_dir / "baselines"
    if not directory.is_dir():
        return None
    from restore.integrity.baseline import load_baselines

    manifest, _problem = load_baselines(directory).manifest(ctx.host.name)
    if manifest is None:
        return None
    found = manifest.get("facts", {}).get("directory")
    return found if isinstance(found, dict) else None
