"""Per-value replication metadata: when each member of a group was added. Pure.

A group's `whenChanged` moves for any change to it (a member removed, a description edited,
a member added years ago and replicated today), so "Domain Admins changed after the incident"
is ambiguous. With linked-value replication a Windows DC keeps a stamp per *value* and shows
it in the constructed attribute `msDS-ReplValueMetaData`, one XML document per value:

    <DS_REPL_VALUE_META_DATA><pszAttributeName>member</pszAttributeName>
    <pszObjectDn>CN=svc-sync,CN=Users,DC=lab,DC=test</pszObjectDn>...
    <ftimeDeleted>1601-01-01T00:00:00Z</ftimeDeleted><ftimeCreated>2026-11-21T00:00:00Z</ftimeCreated>
    <ftimeLastOriginatingChange>...</ftimeLastOriginatingChange>...</DS_REPL_VALUE_META_DATA>

so the member added after the incident is named with its date. Samba 4.17 does not construct
the attribute (nor answers the controls that would reveal its per-value stamps over LDAP): the
check then says so and falls back to the group's `whenChanged`.

Values come from a DC that may be the attacker's: a document that does not parse, or a date
that does not read, is a problem line, never a silent skip.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

_NEVER = datetime(1601, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ValueStamp:
    attribute: str
    value_dn: str
    created: datetime
    changed: datetime
    deleted: datetime | None  # the value was removed then (a tombstoned link)


def _time(text: str | None) -> datetime:
    value = (text or "").strip()
    if not value:
        raise ValueError("empty time")
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_value_metadata(document: str) -> ValueStamp:
    """One value of msDS-ReplValueMetaData; ValueError if it cannot be read."""
    if "<!" in document:
        raise ValueError("a DTD or comment in value metadata (refused)")
    try:
        root = ET.fromstring(document.strip().rstrip("\x00"))
    except ET.ParseError as exc:
        raise ValueError(f"value metadata is not XML: {exc}") from None
    if root.tag != "DS_REPL_VALUE_META_DATA":
        raise ValueError(f"unexpected value metadata element {root.tag[:60]!r}")
    fields = {child.tag: (child.text or "") for child in root}
    deleted = _time(fields.get("ftimeDeleted"))
    return ValueStamp(
        attribute=fields.get("pszAttributeName", "").strip(),
        value_dn=fields.get("pszObjectDn", "").strip(),
        created=_time(fields.get("ftimeCreated")),
        changed=_time(fields.get("ftimeLastOriginatingChange")),
        deleted=None if deleted <= _NEVER else deleted,
    )


def members_added_since(
    documents: tuple[str, ...], since: datetime
) -> tuple[list[tuple[str, datetime]], list[str]]:
    """(members present and added or re-added since `since`, with when; problems)."""
    added: list[tuple[str, datetime]] = []
    problems: list[str] = []
    for document in documents:
        try:
            stamp = parse_value_metadata(document)
        except ValueError as exc:
            problems.append(f"{exc}: {document[:120]!r}")
            continue
        if stamp.attribute.lower() != "member" or stamp.deleted is not None:
            continue
        # created: first added; changed: re-added after a removal (same link, new stamp)
        when = max(stamp.created, stamp.changed)
        if when >= since:
            added.append((stamp.value_dn, when))
    return added, problems
