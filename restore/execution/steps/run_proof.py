"""What this run did to a domain controller's directory, read back from its journal.

Without a baseline the directory check cannot tell one krbtgt reset since the incident from
two (`pwdLastSet` only says "at least once"). The run's journal can: a `directory:
rotate_krbtgt` that succeeded in this run, on this DC or another DC of the same domain (they
share krbtgt), recorded the key version before its two resets; the check then asks the
directory for at least that version plus two. Likewise a DC reimaged in this run (promoted
again) has a new machine account of its own, created after the incident by the restore, not
by the attacker. Read from the journal, so it holds on `--resume` too.
"""

from __future__ import annotations

from datetime import datetime

from restore.directory.model import RunProof
from restore.execution.run_fold import RunView, StepResult, fold_run
from restore.execution.steps.base import StepContext
from restore.models import StepType


def _done(view: RunView, host: str, kind: StepType) -> list[StepResult]:
    """The host's attempts at steps of `kind` that succeeded in this run, not dry runs."""
    record = view.hosts.get(host)
    return [
        a
        for a in (record.steps if record is not None else [])
        if a.type == kind.value and a.status == "succeeded" and not a.dry_run
    ]


def _rotated_from(view: RunView, hosts: list[str]) -> int | None:
    """The key version the latest rotation (in journal order) on one of `hosts` started from."""
    rotations = [
        a
        for host in hosts
        for a in _done(view, host, StepType.DIRECTORY)
        if a.detail.get("action") == "rotate_krbtgt"
        and isinstance(a.detail.get("key_version_before"), int)
    ]
    latest = max(rotations, key=lambda a: a.ended_seq, default=None)
    return int(latest.detail["key_version_before"]) if latest is not None else None


def _promoted_at(view: RunView, host: str) -> datetime | None:
    """When this host's latest reimage of this run started (its promotion came after)."""
    starts = [a.started_at for a in _done(view, host, StepType.REIMAGE) if a.started_at]
    # AD stamps whenCreated to the second: compare at that resolution
    return max(starts).replace(microsecond=0) if starts else None


def own_account(ctx: StepContext) -> str:
    """The DC's machine account: its DNS name's first label, as AD names it (DC02$)."""
    name = str(ctx.host.var("restore_ldap_server_name") or ctx.host.address or ctx.host.name)
    return name.split(".", 1)[0].upper() + "$"


def directory_run_proof(ctx: StepContext) -> RunProof | None:
    """None for a host that is not a domain controller."""
    from restore.directory.role import is_domain_controller, same_domain
    from restore.inputs.inventory import load_inventory

    if not is_domain_controller(ctx.host):
        return None
    view = fold_run(ctx.journal.events(ctx.run_id))
    others = same_domain(ctx.host, load_inventory(ctx.inventory_paths).hosts)
    return RunProof(
        krbtgt_rotated_from=_rotated_from(view, [ctx.host.name, *(h.name for h in others)]),
        promoted_at=_promoted_at(view, ctx.host.name),
        own_account=own_account(ctx),
    )
