"""krbtgt: the key that signs every Kerberos ticket of the domain.

An attacker who held the domain may have its key (a golden ticket). Microsoft's guidance
(and New-KrbtgtKeys.ps1) is to reset it twice, because a DC accepts tickets signed with the
current key and the previous one. The rule here: since the incident, the password was set
after it (`pwdLastSet`) and the key version (`msDS-KeyVersionNumber`) moved by at least two
from the baseline's. Without a baseline key version two rotations cannot be proven, and the
check fails closed.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from ldap3 import MODIFY_REPLACE, Connection

from restore.directory.connection import DirectoryError
from restore.directory.model import Entry, Snapshot, parse_filetime

KRBTGT_RID = 502


@dataclass(frozen=True)
class KrbtgtState:
    dn: str
    key_version: int
    password_set: datetime | None


def krbtgt_entry(snapshot: Snapshot) -> Entry | None:
    for entry in snapshot.entries:
        if entry.rid == KRBTGT_RID and entry.sid.startswith(snapshot.domain_sid + "-"):
            return entry
    return None


def state_of(entry: Entry) -> KrbtgtState:
    return KrbtgtState(
        dn=entry.dn,
        key_version=int(entry.first("msDS-KeyVersionNumber", "0")),
        password_set=parse_filetime(entry.first("pwdLastSet", "0")),
    )


def rotation_verdict(
    state: KrbtgtState, incident: datetime | None, baseline_kvno: int | None
) -> tuple[bool, str]:
    """(rotated twice since the incident, why) - pure."""
    if incident is None:
        return False, "no incident time given (--since): rotation since the incident unknown"
    when = state.password_set.isoformat() if state.password_set else "never"
    if state.password_set is None or state.password_set <= incident:
        return False, f"krbtgt not rotated since the incident (password last set {when})"
    if baseline_kvno is None:
        return False, (
            f"krbtgt rotated at least once since the incident (set {when}, key version "
            f"{state.key_version}); two rotations cannot be proven without a baseline key "
            "version (restore baseline capture)"
        )
    moved = state.key_version - baseline_kvno
    if moved < 2:
        return False, (
            f"krbtgt key version moved by {moved} since the baseline ({baseline_kvno} -> "
            f"{state.key_version}): not rotated twice since the incident"
        )
    return True, (
        f"krbtgt rotated since the incident (set {when}; key version {baseline_kvno} -> "
        f"{state.key_version})"
    )


def random_password(length: int = 64) -> str:
    """A random krbtgt password. The DC derives the keys from it; nobody ever needs it again,
    so it is never printed, journaled or kept."""
    alphabet = string.ascii_letters + string.digits + "!#%+-.:=?@_"
    core = "".join(secrets.choice(alphabet) for _ in range(length - 4))
    # one of each class so a complexity policy never refuses it
    return core + secrets.choice("ABCDEFGH") + secrets.choice("abcdefgh") + "7!"


def read_state(conn: Connection, base_dn: str) -> KrbtgtState:
    conn.search(
        base_dn,
        "(&(objectClass=user)(sAMAccountName=krbtgt))",
        attributes=["pwdLastSet", "msDS-KeyVersionNumber"],
    )
    for item in conn.response or []:
        if item.get("type") == "searchResEntry":
            attrs = {
                k.lower(): tuple(map(str, v if isinstance(v, list) else [v]))
                for k, v in (item.get("attributes") or {}).items()
            }
            return state_of(Entry(dn=str(item["dn"]), attrs=attrs))
    raise DirectoryError("no krbtgt account found (is this a domain controller?)")


def reset_password(conn: Connection, dn: str) -> None:
    """One reset of krbtgt's password over LDAPS (unicodePwd, quoted, UTF-16LE)."""
    value = f'"{random_password()}"'.encode("utf-16-le")
    ok = conn.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [value])]})
    if not ok:
        result = conn.result or {}
        raise DirectoryError(
            f"resetting krbtgt's password was refused: {result.get('description')} "
            f"{result.get('message', '')}".strip()
        )
