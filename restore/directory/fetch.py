"""One paged read of what the directory checks look at.

Bounded (hostile-data rule): at most MAX_ENTRIES objects and MAX_VALUE_CHARS per value are
kept; a directory that sends more is reported as truncated, which the checks turn into a
finding instead of a silent `clean`. The whole read has one deadline (READ_DEADLINE_S), each
receive the connection's timeout, each message and the whole read a byte cap (paging.py).
The searches run on the wire (paging.py, ber.py), not through ldap3's search: ldap3 decoded
12,000 entries in 2.6 s of CPU, the DC found them in 2.6 s, and neither overlapped.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

from ldap3 import BASE, Connection

from restore.directory import ber, paging
from restore.directory.connection import DirectoryError
from restore.directory.model import Entry, Snapshot, sid_to_str

MAX_ENTRIES = 500_000
MAX_VALUE_CHARS = 4096
READ_DEADLINE_S = 600.0  # the whole read (500,000 objects at the rate measured: about 200 s)

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
RANGE = ";range="


def _text(name: str, value: bytes) -> str:
    if name == "objectsid":
        return sid_to_str(value)
    if name in BINARY:
        # a security descriptor: its presence and its digest are what the checks compare
        return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:16]}>"
    return value[: MAX_VALUE_CHARS * 4].decode("utf-8", "replace")[:MAX_VALUE_CHARS]


def _texts(name: str, values: list[bytes]) -> tuple[str, ...]:
    if name in BINARY:
        return tuple([_text(name, v) for v in values])
    # the common case inline: a value this short decodes to at most MAX_VALUE_CHARS
    return tuple(
        [
            v.decode("utf-8", "replace") if len(v) <= MAX_VALUE_CHARS else _text(name, v)
            for v in values
        ]
    )


def _server_text(raw: bytes) -> str:
    """A DN or attribute name as ldap3 decoded them: UTF-8, else Latin-1 (some AD DNs)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _Builder:
    """Entries from their raw form; attribute names (the same dozen, 100,000 times) decoded
    once."""

    def __init__(self, requested: tuple[str, ...]) -> None:
        self.empty = {name.lower(): () for name in requested}
        self.names: dict[bytes, str] = {}

    def __call__(self, raw: ber.RawEntry) -> tuple[Entry, dict[str, int]]:
        """The entry, every requested attribute present (empty when the DC sent none), and
        the ranged attributes still to complete (name -> the last value index received)."""
        dn, pairs = raw
        attrs: dict[str, tuple[str, ...]] = dict(self.empty)
        ranged: dict[str, int] = {}
        parts: list[tuple[str, list[bytes]]] = []
        for raw_name, values in pairs:
            key = self.names.get(raw_name)
            if key is None:
                key = self.names.setdefault(raw_name, _server_text(raw_name).lower())
            if RANGE in key:
                parts.append((key, values))
            else:
                attrs[key] = _texts(key, values)
        for key, values in parts:
            # a Windows DC sends a large `member` in ranges (member;range=0-1499): appended
            # to whatever came whole, as ldap3's auto-range does
            name, high = _range(key)
            attrs[name] = attrs.get(name, ()) + _texts(name, values)
            if high is not None:
                ranged[name] = high
        return Entry(dn=_server_text(dn), attrs=attrs), ranged


def _range(key: str) -> tuple[str, int | None]:
    """(attribute, last index sent, None when the range ends with *) of a ranged name."""
    name, _, bounds = key.partition(RANGE)
    low, _, high = bounds.partition("-")
    if not low.isdigit() or not (high == "*" or high.isdigit()):
        raise DirectoryError(f"unreadable ranged attribute {key[:200]!r}")
    return name, None if high == "*" else int(high)


def _complete(conn: Connection, entry: Entry, ranged: dict[str, int], deadline: float) -> Entry:
    """The rest of each ranged attribute, asked for range by range (ldap3's auto-range,
    bounded: each answer must start where the last ended and move on, within the deadline)."""
    attrs = dict(entry.attrs)
    for name, high in ranged.items():
        while True:
            asked = f"{name}{RANGE}{high + 1}-*"
            found, _ = paging.search(
                conn, entry.dn, "(objectClass=*)", (asked,),
                max_entries=1, deadline=deadline, build=lambda raw: raw[1], scope=BASE,
                page_size=None,
            )  # fmt: skip
            pairs = [(_server_text(n).lower(), v) for n, v in (found[0] if found else [])]
            answer = [(k, v) for k, v in pairs if k.startswith(f"{name}{RANGE}{high + 1}-")]
            if len(answer) != 1:
                raise DirectoryError(f"{entry.dn}: no range {high + 1}- of {name} in the answer")
            key, values = answer[0]
            attrs[name] += _texts(name, values)
            if len(attrs[name]) > MAX_ENTRIES:
                raise DirectoryError(f"{entry.dn}: more than {MAX_ENTRIES} values of {name}")
            _, next_high = _range(key)
            if next_high is None:
                break
            if next_high <= high or not values:
                raise DirectoryError(f"{entry.dn}: the ranges of {name} do not move on")
            high = next_high
    return Entry(dn=entry.dn, attrs=attrs)


def paged(
    conn: Connection,
    base: str,
    search_filter: str,
    attributes: tuple[str, ...],
    deadline: float | None = None,
) -> tuple[list[Entry], bool]:
    deadline = deadline if deadline is not None else time.monotonic() + READ_DEADLINE_S
    built, truncated = paging.search(
        conn, base, search_filter, attributes,
        max_entries=MAX_ENTRIES, deadline=deadline, build=_Builder(attributes),
    )  # fmt: skip
    entries = [entry for entry, _ in built]
    # after the search: the socket carries one conversation at a time
    for index, (entry, ranged) in enumerate(built):
        if ranged:
            entries[index] = _complete(conn, entry, ranged, deadline)
    return entries, truncated


def fetch_snapshot(conn: Connection) -> Snapshot:
    """Accounts and groups in one search (as `ldapsearch` would), then the GPOs, within
    one deadline."""
    deadline = time.monotonic() + READ_DEADLINE_S
    base = base_dn(conn)
    entries, truncated = paged(conn, base, ACCOUNT_FILTER, ACCOUNT_ATTRIBUTES, deadline)
    gpos, gpo_truncated = paged(
        conn,
        f"CN=Policies,CN=System,{base}",
        "(objectClass=groupPolicyContainer)",
        GPO_ATTRIBUTES,
        deadline,
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
