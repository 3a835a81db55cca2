"""When members joined the privileged groups: per-value stamps, or the fallback. Pure.

With `msDS-ReplValueMetaData` (Windows), a member added to a privileged group (or to a group
nested in one) after the incident is named with its date even without a baseline and even
when the group's `whenChanged` says nothing useful: strong (`compromised`), as for a new
privileged member against the baseline. Without it (Samba), the check says the DC gives no
per-value stamps and lists the privileged groups whose `whenChanged` is after the incident:
ambiguous (a removal or an edit moves it too), so a warning that points at the baseline
comparison, never a `clean` on its own.
"""

from __future__ import annotations

from datetime import datetime

from restore.directory.gpo_files import raw
from restore.directory.model import Snapshot, parse_generalized_time
from restore.directory.privileged import privileged_groups
from restore.directory.replmeta import members_added_since
from restore.integrity.checks.catalog import fail, ok, sample, warn
from restore.models import Finding

NAME = "dir-privileged-added"


def check_member_dates(snapshot: Snapshot, since: datetime | None) -> Finding | None:
    if snapshot.value_meta is None:
        return None  # not read (a snapshot built elsewhere): nothing to say
    if since is None:
        return warn(NAME, "no incident time given (--since): membership not dated")
    groups = privileged_groups(snapshot)
    stamped = any(snapshot.value_meta.get(g.dn.lower()) for found in groups.values() for g in found)
    if not stamped:
        changed = sorted(
            f"{label}: {g.name} changed {g.first('whenChanged')}"
            for label, found in groups.items()
            for g in found
            if parse_generalized_time(g.first("whenChanged", "19700101000000.0Z")) >= since
        )
        if changed:
            return warn(
                NAME,
                "the DC gives no per-value stamps (msDS-ReplValueMetaData); privileged groups "
                f"changed after the incident (compare with the baseline): {sample(changed)}",
                changed,
            )
        return ok(NAME, "no privileged group changed after the incident (no per-value stamps)")
    added: list[str] = []
    problems: list[str] = []
    for label, found in groups.items():
        for group in found:
            members, bad = members_added_since(snapshot.value_meta.get(group.dn.lower(), ()), since)
            via = "" if group is found[0] else f" (through {raw(group.name, 80)})"
            added += [
                f"{label}{via}: {raw(dn, 160)} added {when.isoformat()}" for dn, when in members
            ]
            problems += [f"{label}: {p}" for p in bad]
    if added:
        return fail(
            NAME,
            f"members added to privileged groups after the incident: {sample(sorted(added))}",
            sorted(added) + problems,
            strong=True,
        )
    if problems:
        return fail(NAME, f"unreadable per-value stamps: {sample(problems)}", problems)
    return ok(NAME, "no member added to a privileged group after the incident (per-value stamps)")
