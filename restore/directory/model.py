"""Directory entries as plain data, and the value formats AD uses.

Values come from a domain controller that may be the attacker's: every parser here either
returns a value or raises ValueError, which the checks turn into a finding (never `clean`).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

# userAccountControl bits the checks read
UAC_ACCOUNTDISABLE = 0x2
UAC_SERVER_TRUST_ACCOUNT = 0x2000  # a domain controller's computer account
UAC_TRUSTED_FOR_DELEGATION = 0x80000  # unconstrained delegation

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    """One directory object: its DN and its attributes (lower-case names, text values)."""

    dn: str
    attrs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def values(self, name: str) -> tuple[str, ...]:
        return self.attrs.get(name.lower(), ())

    def first(self, name: str, default: str = "") -> str:
        found = self.values(name)
        return found[0] if found else default

    @property
    def name(self) -> str:
        return self.first("sAMAccountName") or self.dn

    @cached_property
    def classes(self) -> frozenset[str]:
        return frozenset(v.lower() for v in self.values("objectClass"))

    @cached_property
    def is_group(self) -> bool:
        return "group" in self.classes

    @cached_property
    def is_computer(self) -> bool:
        return "computer" in self.classes

    @cached_property
    def is_account(self) -> bool:
        """A security principal that can log on (users and computers, not groups)."""
        return "user" in self.classes or self.is_computer

    @property
    def uac(self) -> int:
        return int(self.first("userAccountControl", "0"))

    @property
    def sid(self) -> str:
        return self.first("objectSid")

    @cached_property
    def rid(self) -> int | None:
        sid = self.sid
        return int(sid.rsplit("-", 1)[1]) if sid.count("-") > 2 else None


@dataclass(frozen=True)
class Snapshot:
    """What one read of a domain controller returned."""

    base_dn: str
    domain_sid: str
    read_at: datetime
    entries: tuple[Entry, ...]
    gpos: tuple[Entry, ...] = ()
    truncated: bool = False
    # privileged group DN (lower case) -> its msDS-ReplValueMetaData documents; None when
    # not read, {} entries with () when the DC gave none (Samba)
    value_meta: Mapping[str, tuple[str, ...]] | None = None
    # indexes computed once per snapshot (a 12,000-object directory is scanned many times)
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def by_dn(self) -> dict[str, Entry]:
        if "by_dn" not in self.memo:
            self.memo["by_dn"] = {e.dn.lower(): e for e in self.entries}
        found: dict[str, Entry] = self.memo["by_dn"]
        return found

    def primary_members(self) -> dict[str, list[Entry]]:
        """primaryGroupID -> the accounts whose primary group it is."""
        if "primary" not in self.memo:
            index: dict[str, list[Entry]] = {}
            for entry in self.entries:
                if entry.is_account:
                    index.setdefault(entry.first("primaryGroupID"), []).append(entry)
            self.memo["primary"] = index
        found: dict[str, list[Entry]] = self.memo["primary"]
        return found


def sid_to_str(raw: bytes) -> str:
    """The binary SID (MS-DTYP 2.4.2) as S-1-5-21-...; ValueError if malformed."""
    if len(raw) < 8:
        raise ValueError(f"SID too short ({len(raw)} bytes)")
    revision, count = raw[0], raw[1]
    if len(raw) != 8 + 4 * count:
        raise ValueError(f"SID of {len(raw)} bytes announces {count} sub-authorities")
    authority = int.from_bytes(raw[2:8], "big")
    subs = struct.unpack(f"<{count}I", raw[8:])
    return "-".join(["S", str(revision), str(authority), *map(str, subs)])


def parse_generalized_time(value: str) -> datetime:
    """AD's whenCreated/whenChanged form: 20261130072429.0Z."""
    text = value.strip()
    if (
        not text.endswith("Z")
        or len(text) < 14
        or not (text[:14].isascii() and text[:14].isdigit())
    ):
        raise ValueError(f"not a generalized time: {value!r}")
    # by hand: strptime took 0.7 s of a 12,000-account check (two dates per account)
    return datetime(
        int(text[0:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[8:10]),
        int(text[10:12]),
        int(text[12:14]),
        tzinfo=UTC,
    )


def parse_filetime(value: str) -> datetime | None:
    """pwdLastSet's form: 100 ns intervals since 1601; 0 means "must change at next logon"."""
    ticks = int(value)
    if ticks < 0:
        raise ValueError(f"negative FILETIME {value!r}")
    if ticks == 0:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)


@dataclass(frozen=True)
class RunProof:
    """What the running restore itself did to a DC's directory, from its journal, so that the
    checks neither miss what it proves nor take its own work for the attacker's."""

    # the key version a rotation of this run started from: "rotated twice" without baseline
    krbtgt_rotated_from: int | None = None
    # this DC was reimaged (promoted again) in this run at this moment: its own new machine
    # account (`own_account`, e.g. DC02$) created since is the restore's doing
    promoted_at: datetime | None = None
    own_account: str | None = None
