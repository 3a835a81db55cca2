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
from restore.execution.journal import Event
from restore.execution.steps.base import StepContext
from restore.models import EventKind, StepType


def _same_domain(ctx: StepContext) -> set[str]:
    """This DC and the inventory's other DCs of its domain (restore_ad_domain)."""
    from restore.directory.role import is_domain_controller
    from restore.inputs.inventory import load_inventory

    domain = ctx.host.var("restore_ad_domain")
    inventory = load_inventory(ctx.inventory_paths)
    same = {
        h.name
        for h in inventory.hosts
        if is_domain_controller(h) and h.var("restore_ad_domain") == domain
    }
    return same | {ctx.host.name}


def _rotated_from(events: list[Event], hosts: set[str]) -> int | None:
    found: int | None = None
    for event in events:
        detail = event.detail
        if (
            event.event == EventKind.SUCCEEDED.value
            and event.host in hosts
            and detail.get("action") == "rotate_krbtgt"
            and not detail.get("dry_run")
            and isinstance(detail.get("key_version_before"), int)
        ):
            found = int(detail["key_version_before"])  # in journal order: the latest wins
    return found


def _promoted_at(events: list[Event], host: str) -> datetime | None:
    """When this host's latest reimage of this run started (its promotion came after)."""
    started: dict[str, datetime] = {}
    found: datetime | None = None
    for event in events:
        if event.host != host or not event.step:
            continue
        if (
            event.event == EventKind.STARTED.value
            and event.detail.get("type") == StepType.REIMAGE.value
        ):
            # AD stamps whenCreated to the second: compare at that resolution
            started[event.step] = datetime.fromisoformat(event.ts).replace(microsecond=0)
        elif event.event == EventKind.SUCCEEDED.value and event.step in started:
            found = started[event.step]
    return found


def own_account(ctx: StepContext) -> str:
    """The DC's machine account: its DNS name's first label, as AD names it (DC02$)."""
    name = str(ctx.host.var("restore_ldap_server_name") or ctx.host.address or ctx.host.name)
    return name.split(".", 1)[0].upper() + "$"


def directory_run_proof(ctx: StepContext) -> RunProof | None:
    """None for a host that is not a domain controller."""
    from restore.directory.role import is_domain_controller

    if not is_domain_controller(ctx.host):
        return None
    events = ctx.journal.events(ctx.run_id)
    return RunProof(
        krbtgt_rotated_from=_rotated_from(events, _same_domain(ctx)),
        promoted_at=_promoted_at(events, ctx.host.name),
        own_account=own_account(ctx),
    )
