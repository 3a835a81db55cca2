"""Which domain controllers of the inventory replicate with the DC a rotation runs on.

The rotation waits between its two resets for every other DC of the domain to show the
first one. "Of the domain" cannot come from the inventory alone: during a forest recovery
the first DC is restored from a backup that predates the attack, and the others are still
the old, compromised ones until they are rebuilt and promoted again. Those do not replicate
with the restored DC (it does not know them), so waiting for them would never end; what a
restored DC replicates with is what its own directory lists.

So each inventory DC is asked who it is (its rootDSE's `dsServiceName`: the DN of its NTDS
Settings object) and the rotating DC's directory is asked whether it holds that object with
the same objectGUID (a DC rebuilt under the same name has a new one). A DC that cannot be
reached is an error, not a DC to skip: the rotation fails closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ldap3 import BASE, Connection

from restore.directory.connection import DirectoryError, LdapTarget, bind_credentials, connect
from restore.models import HostSpec


@dataclass(frozen=True)
class Partners:
    replicating: tuple[HostSpec, ...]  # waited for between the two resets
    not_replicating: tuple[tuple[str, str], ...]  # (host, why it is not waited for)


def _first_raw(conn: Connection, attribute: str) -> bytes | None:
    for item in conn.response or []:
        if item.get("type") != "searchResEntry":
            continue
        for name, values in (item.get("raw_attributes") or {}).items():
            if name.lower() == attribute.lower() and values:
                return bytes(values[0])
    return None


def dsa_identity(conn: Connection) -> tuple[str, bytes]:
    """(the DN of this DC's NTDS Settings, its objectGUID), as the DC itself says."""
    conn.search("", "(objectClass=*)", search_scope=BASE, attributes=["dsServiceName"])
    raw_dn = _first_raw(conn, "dsServiceName")
    if not raw_dn:
        raise DirectoryError("the rootDSE names no dsServiceName (is this a domain controller?)")
    dn = raw_dn.decode("utf-8", "replace")
    guid = object_guid(conn, dn)
    if guid is None:
        raise DirectoryError(f"this DC cannot read its own NTDS Settings ({dn})")
    return dn, guid


def object_guid(conn: Connection, dn: str) -> bytes | None:
    """The objectGUID of `dn` in this DC's directory, None when it holds no such object."""
    ok = conn.search(dn, "(objectClass=*)", search_scope=BASE, attributes=["objectGUID"])
    return _first_raw(conn, "objectGUID") if ok else None


def _identity_of(host: HostSpec, insecure: bool) -> tuple[str, bytes]:
    conn = connect(LdapTarget.for_host(host, insecure), *bind_credentials(host))
    try:
        return dsa_identity(conn)
    except DirectoryError as exc:
        raise DirectoryError(f"{host.name}: {exc}") from None
    finally:
        conn.unbind()


def replication_partners(
    conn: Connection, candidates: Sequence[HostSpec], insecure: bool = False
) -> Partners:
    """Split the inventory's other DCs of the domain by whether `conn`'s DC knows them."""
    replicating: list[HostSpec] = []
    others: list[tuple[str, str]] = []
    for host in candidates:
        dn, guid = _identity_of(host, insecure)
        known = object_guid(conn, dn)
        if known == guid:
            replicating.append(host)
        elif known is None:
            others.append((host.name, f"not a domain controller of this directory ({dn})"))
        else:
            others.append((host.name, "a DC of the same name rebuilt since: not this one"))
    return Partners(tuple(replicating), tuple(others))
