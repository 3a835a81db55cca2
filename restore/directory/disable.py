"""`directory: disable_accounts`: disable the accounts the directory checks named.

Which accounts: the new members of privileged groups (against the baseline) and the accounts
created after the incident. Never the built-in Administrator, krbtgt or a domain controller's
own account (disabling those breaks the domain), never an account already disabled. An
account is disabled (userAccountControl's ACCOUNTDISABLE bit), never deleted: it is evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ldap3 import MODIFY_REPLACE, Connection

from restore.directory.connection import DirectoryError
from restore.directory.model import (
    UAC_ACCOUNTDISABLE,
    UAC_SERVER_TRUST_ACCOUNT,
    Entry,
    Snapshot,
    parse_generalized_time,
)
from restore.directory.privileged import privileged_members

NEVER_RIDS = (500, 502)  # Administrator, krbtgt


def accounts_to_disable(
    snapshot: Snapshot, since: datetime | None, base: dict[str, Any] | None
) -> list[Entry]:
    """Pure: the enabled accounts the checks name, in a stable order."""
    named: set[str] = set()
    if base is not None:
        known = base.get("privileged", {})
        for group, members in privileged_members(snapshot).items():
            named.update(m for m in members if m not in set(known.get(group, [])))
    chosen = []
    for entry in snapshot.entries:
        if not entry.is_account or entry.rid in NEVER_RIDS:
            continue
        if entry.uac & (UAC_ACCOUNTDISABLE | UAC_SERVER_TRUST_ACCOUNT):
            continue
        created = parse_generalized_time(entry.first("whenCreated", "19700101000000.0Z"))
        if entry.name.lower() in named or (since is not None and created >= since):
            chosen.append(entry)
    return sorted(chosen, key=lambda e: e.name.lower())


def disable(conn: Connection, entries: list[Entry]) -> list[str]:
    done: list[str] = []
    for entry in entries:
        value = str(entry.uac | UAC_ACCOUNTDISABLE)
        if not conn.modify(entry.dn, {"userAccountControl": [(MODIFY_REPLACE, [value])]}):
            result = conn.result or {}
            raise DirectoryError(
                f"disabling {entry.name} was refused ({result.get('description')}); "
                f"disabled before it: {', '.join(done) or 'none'}"
            )
        done.append(entry.name)
    return done
