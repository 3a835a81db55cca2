"""One paged read of what the directory checks look at.

Bounded (hostile-data rule): at most MAX_ENTRIES objects and MAX_VALUE_CHARS per value are
kept; a directory that sends more is reported as truncated, which the checks turn into a
finding instead of a silent `clean`.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ldap3 import BASE, SUBTREE, Connection

from restore.directory.connection import DirectoryError
from restore.directory.model import Entry, Snapshot, sid_to_str

MAX_ENTRIES = 500_000
MAX_VALUE_CHARS = 4096
PAGE_SIZE = 1000

ACCOUNT_ATTRIBUTES = (
    "objectClass",
    "sAMAccountName",
    "objectSid",
    "member",
    "primaryGroupID",
    "whenCreated",
    "whenChanged",
    "servicePrincipalName",
    "adminCount",
    "userAccountControl",
    "pwdLastSet",
    "msDS-KeyVersionNumber",
    "msDS-AllowedToActOnBehalfOfOtherIdentity",
)
ACCOUNT_FILTER = "(|(objectClass=user)(objectClass=group))"
GPO_ATTRIBUTES = ("displayName", "whenChanged", "versionNumber", "gPCFileSysPath", "name")


def base_dn(conn: Connection) -> str:
    conn.search("", "(objectClass=*)", search_scope=BASE, attributes=["defaultNamingContext"])
    for item in conn.response or []:
        values = item.get("attributes", {}).get("defaultNamingContext")
        if values:
            return str(values[0] if isinstance(values, list) else values)
    raise DirectoryError("the rootDSE names no defaultNamingContext")


BINARY = frozenset({"objectsid", "msds-allowedtoactonbehalfofotheridentity"})


def _text(name: str, value: bytes) -> str:
    if name == "objectsid":
        return sid_to_str(value)
    if name in BINARY:
        # a security descriptor: its presence and its digest are what the checks compare
        return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:16]}>"
    return value[: MAX_VALUE_CHARS * 4].decode("utf-8", "replace")[:MAX_VALUE_CHARS]


def _entry(item: dict[str, Any]) -> Entry:
    """From the raw bytes: ldap3's own decoding without a schema guesses (a SID that happens
    to be valid UTF-8 comes back as text) and costs more than the search itself."""
    attrs: dict[str, tuple[str, ...]] = {}
    for name, values in (item.get("raw_attributes") or {}).items():
        key = name.lower()
        attrs[key] = tuple(_text(key, bytes(v)) for v in values)
    return Entry(dn=str(item.get("dn", "")), attrs=attrs)


def paged(
    conn: Connection, base: str, search_filter: str, attributes: tuple[str, ...]
) -> tuple[list[Entry], bool]:
    entries: list[Entry] = []
    cookie: Any = None
    while True:
        ok = conn.search(
            base,
            search_filter,
            search_scope=SUBTREE,
            attributes=list(attributes),
            paged_size=PAGE_SIZE,
            paged_cookie=cookie,
        )
        if not ok and (conn.result or {}).get("result") not in (0, None):
            raise DirectoryError(
                f"LDAP search {search_filter} failed: {(conn.result or {}).get('description')}"
            )
        for item in conn.response or []:
            if item.get("type") != "searchResEntry":
                continue  # referrals to other partitions
            entries.append(_entry(item))
            if len(entries) >= MAX_ENTRIES:
                return entries, True
        controls = (conn.result or {}).get("controls", {})
        cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
        if not cookie:
            return entries, False


def fetch_snapshot(conn: Connection, second: Connection | None = None) -> Snapshot:
    """With a `second` connection, groups are read on it while accounts are read on the
    first: the DC prepares one page while this side decodes the other (BER decoding in
    Python costs as much as the DC's own work)."""
    base = base_dn(conn)
    if second is None:
        entries, truncated = paged(conn, base, ACCOUNT_FILTER, ACCOUNT_ATTRIBUTES)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            groups = pool.submit(paged, second, base, "(objectClass=group)", ACCOUNT_ATTRIBUTES)
            accounts, accounts_cut = paged(conn, base, "(objectClass=user)", ACCOUNT_ATTRIBUTES)
            group_entries, groups_cut = groups.result()
        seen = {e.dn.lower() for e in accounts}
        entries = accounts + [g for g in group_entries if g.dn.lower() not in seen]
        truncated = accounts_cut or groups_cut
    gpos, gpo_truncated = paged(
        conn, f"CN=Policies,CN=System,{base}", "(objectClass=groupPolicyContainer)", GPO_ATTRIBUTES
    )
    domain_sid = ""
    for entry in entries:
        if entry.rid == 502:  # krbtgt: its SID is the domain's plus 502
            domain_sid = entry.sid.rsplit("-", 1)[0]
    return Snapshot(
        base_dn=base,
        domain_sid=domain_sid,
        read_at=datetime.now(UTC),
        entries=tuple(entries),
        gpos=tuple(gpos),
        truncated=truncated or gpo_truncated,
    )


VALUE_META = "msDS-ReplValueMetaData"


def fetch_value_metadata(conn: Connection, group_dns: list[str]) -> dict[str, tuple[str, ...]]:
    """Each group's per-value stamps (one base read per group: the attribute is constructed,
    the DC computes it only when asked for one object). A group the DC gives none for maps
    to (); a ranged answer (over 1,000 values) keeps the first range."""
    found: dict[str, tuple[str, ...]] = {}
    for dn in group_dns:
        conn.search(dn, "(objectClass=*)", search_scope=BASE, attributes=[VALUE_META])
        values: tuple[str, ...] = ()
        for item in conn.response or []:
            if item.get("type") != "searchResEntry":
                continue
            for name, raw in (item.get("raw_attributes") or {}).items():
                if name.lower().startswith(VALUE_META.lower()):
                    values += tuple(
                        bytes(v)[: MAX_VALUE_CHARS * 4].decode("utf-8", "replace") for v in raw
                    )
        found[dn.lower()] = values
    return found
