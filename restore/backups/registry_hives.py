"""The autostart values of Windows registry hives found in a backup (Run keys, Winlogon).

A backed-up Windows volume holds its registry as hive files: the machine's SOFTWARE hive
(``Windows/System32/config/SOFTWARE``) and one NTUSER.DAT per user profile. Their Run and
RunOnce keys and Winlogon's Shell/Userinit start programs at boot or logon: the attacker's
classic foothold. regipy (pure Python) reads them from bytes already in memory.

A hive is the attacker's data: regipy reads it through a stream that stops the parse at a
deadline and after a byte budget (a hostile hive can point a value's data segments at the
same bytes thousands of times, or list billions of values); whatever stops the parse, or a
key whose values cannot all be read, is a problem reported with the hive, never a crash
and never a silent "no value".
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from typing import Any

from regipy.exceptions import RegistryKeyNotFoundException
from regipy.registry import REGF_HEADER, NKRecord, RegistryHive
from regipy.utils import boomerang_stream

# regipy logs each odd record it meets; the scan reports them as findings instead
logging.getLogger("regipy").addHandler(logging.NullHandler())
logging.getLogger("regipy").propagate = False

HIVE_CAP = 256 << 20  # a hive larger than this is not read (a finding says so)
PARSE_SECONDS = 10.0
PARSE_READ_BUDGET = 64 << 20  # bytes the parse may read in all (a few keys need far less)
MAX_VALUES_PER_KEY = 256
MAX_DATA_CHARS = 1024  # of a value's data kept for the comparison; longer is cut, and said

SOFTWARE = "software"
NTUSER = "ntuser"

_RUN = r"Microsoft\Windows\CurrentVersion\Run"
_RUN_ONCE = r"Microsoft\Windows\CurrentVersion\RunOnce"
_WINLOGON = r"Microsoft\Windows NT\CurrentVersion\Winlogon"
_POLICY_RUN = r"Microsoft\Windows\CurrentVersion\Policies\Explorer\Run"

# (where the key is seen from Windows, its path inside the hive, the values read: None = all)
_SOFTWARE_KEYS: tuple[tuple[str, str, frozenset[str] | None], ...] = (
    *(
        (rf"HKLM\SOFTWARE\{path}", path, None)
        for base in (_RUN, _RUN_ONCE, _POLICY_RUN)
        for path in (base, "Wow6432Node\\" + base)
    ),
    (rf"HKLM\SOFTWARE\{_WINLOGON}", _WINLOGON, frozenset({"shell", "userinit"})),
)
_NTUSER_KEYS: tuple[tuple[str, str, frozenset[str] | None], ...] = (
    *((rf"HKCU\Software\{p}", rf"Software\{p}", None) for p in (_RUN, _RUN_ONCE, _POLICY_RUN)),
    (rf"HKCU\Software\{_WINLOGON}", rf"Software\{_WINLOGON}", frozenset({"shell"})),
)
KEYS = {SOFTWARE: _SOFTWARE_KEYS, NTUSER: _NTUSER_KEYS}


@dataclass(frozen=True)
class AutostartValue:
    key: str  # as Windows names it: HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run
    name: str
    data: str  # the value's data as text (type prefix for anything but a string)

    @property
    def identity(self) -> tuple[str, str]:
        # Windows compares key and value names without case
        return (self.key.lower(), self.name.lower())


@dataclass(frozen=True)
class HiveReading:
    values: tuple[AutostartValue, ...] = ()
    problems: tuple[str, ...] = ()  # why the reading may be incomplete: each is a finding


class _ParseStopped(Exception):
    """The hive's parse ran past its deadline or read budget."""


class _BoundedStream(io.BytesIO):
    """The hive's bytes, as regipy reads them, with a deadline and a read budget.

    Once stopped, every read fails again: construct rewraps the first exception as a
    StreamError, which regipy may catch; ``stopped`` keeps the reason.
    """

    def __init__(self, data: bytes, deadline: float, budget: int) -> None:
        super().__init__(data)
        self._deadline = deadline
        self._left = budget
        self.stopped: str | None = None

    def read(self, size: int | None = -1, /) -> bytes:
        if self.stopped is None and time.monotonic() > self._deadline:
            self.stopped = f"parse stopped after {PARSE_SECONDS:.0f}s"
        if self.stopped is None and self._left < 0:
            self.stopped = f"parse read more than {PARSE_READ_BUDGET} bytes"
        if self.stopped is not None:
            raise _ParseStopped(self.stopped)
        data = super().read(size)
        self._left -= len(data)
        return data


class _HiveFromStream(RegistryHive):  # type: ignore[misc]
    """regipy's RegistryHive over a stream: its own constructor opens a file path, and the
    bytes are in memory already (read through the scan's bounded readers)."""

    def __init__(self, stream: io.BytesIO) -> None:  # same steps as RegistryHive.__init__
        self.partial_hive_path = None
        self.hive_type = None
        self._stream = stream
        with boomerang_stream(stream) as s:
            self.header = REGF_HEADER.parse_stream(s)
            self.root = NKRecord(next(self.get_hbin_at_offset().iter_cells(s)), s)
        self.name = self.header.file_name


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        text = "multi:" + "|".join(str(v) for v in value)
    elif isinstance(value, bytes | bytearray):
        text = "hex:" + bytes(value[: MAX_DATA_CHARS // 2]).hex()
    else:
        text = f"{type(value).__name__}:{value}"
    return text if len(text) <= MAX_DATA_CHARS else text[:MAX_DATA_CHARS] + "[cut]"


def _key_values(
    hive: RegistryHive, shown: str, path: str, names: frozenset[str] | None
) -> tuple[list[AutostartValue], list[str]]:
    try:
        key = hive.get_key("\\" + path)
    except RegistryKeyNotFoundException:
        return [], []  # no such key: nothing starts from it
    count = int(key.values_count)
    values: list[AutostartValue] = []
    problems: list[str] = []
    read = 0
    for value in key.iter_values(trim_values=False):
        if read >= MAX_VALUES_PER_KEY:
            problems.append(f"{shown}: {count} values, only the first {read} read")
            return values, problems
        read += 1
        name = str(value.name)
        if names is None or name.lower() in names:
            values.append(AutostartValue(shown, name, _as_text(value.value)))
    if read < count:
        # regipy stops quietly at a value record it cannot parse: that is not "no value"
        problems.append(f"{shown}: {count} values listed, {read} could be read")
    return values, problems


def read_autostart(data: bytes, kind: str) -> HiveReading:
    """The autostart values of a hive of ``kind`` (SOFTWARE or NTUSER) held in ``data``."""
    stream = _BoundedStream(data, time.monotonic() + PARSE_SECONDS, PARSE_READ_BUDGET)
    values: list[AutostartValue] = []
    problems: list[str] = []
    try:
        hive = _HiveFromStream(stream)
        for shown, path, names in KEYS[kind]:
            found, odd = _key_values(hive, shown, path, names)
            values += found
            problems += odd
    except Exception as exc:  # a hostile hive can break the parser anywhere: data, not a crash
        if stream.stopped is not None:
            return HiveReading(tuple(values), (*problems, stream.stopped))
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        said = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        return HiveReading(tuple(values), (*problems, f"not a hive regipy can read ({said})"))
    if stream.stopped is not None:  # regipy swallowed the stop somewhere
        problems.append(stream.stopped)
    return HiveReading(tuple(values), tuple(problems))
