"""What a check is: facts gathered by commands, and pure evaluations of those facts.

A *fact* is one command per platform plus a pure parser turning its output into plain JSON
values (lists, dicts, strings), in the style of pyinfra's facts. A *check* is a pure function
of facts (and of the baseline's facts, when there is one) returning findings. The same facts
feed ``restore baseline capture``: a baseline manifest is the facts of a known-good host, so a
check compares like with like.

Nothing here touches the network: parsers and evaluations are unit-tested on captured output.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from restore.integrity.checks.indicators import Indicators
from restore.models import CommandOutput, Finding, FindingStatus, Platform, Severity

DEFAULT_DATA_PATHS = ("/srv", "/home", "/var/lib", "/opt", "/data")
DEFAULT_WINDOWS_DATA_PATHS = (
    "C:\\Users",
    "C:\\ProgramData",
    "C:\\Data",
    "C:\\Shares",
    "D:\\",
    "E:\\",
)
# Hashed into the baseline and compared at check time: the binaries an intruder trojans,
# and the files deciding who may log in and as whom.
DEFAULT_HASH_PATHS = (
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/etc/pam.d",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d",
)
MAX_LISTED = 20  # evidence items listed per finding; the detail gives the full count


class FactError(Exception):
    """A fact could not be gathered or parsed: the checks needing it report an error."""


@dataclass(frozen=True)
class Parsed:
    """A parser's value, and the raw lines or records it could not account for.

    What a parser does not understand is not skipped: the runner turns each ``unaccounted``
    item into evidence of a ``suspect`` finding, so an odd line can never read as clean.
    """

    value: Any
    unaccounted: tuple[str, ...] = ()


MAX_UNACCOUNTED = 200  # raw items kept per fact; a flood of odd lines is only counted


class Unaccounted:
    """Collects what a parser could not account for, keeping the first items only."""

    def __init__(self, limit: int = MAX_UNACCOUNTED) -> None:
        self.limit = limit
        self.items: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(text)
        else:
            self.more += 1

    def result(self) -> tuple[str, ...]:
        return (*self.items, *([f"... and {self.more} more"] if self.more else []))


def raw(text: str, limit: int = 300) -> str:
    """Host text as evidence: control characters and newlines escaped, length bounded."""
    shown = repr(text[: limit + 1])[1:-1]  # cut first: a host's line may be megabytes
    return shown if len(shown) <= limit else shown[:limit] + "..."


@dataclass(frozen=True)
class Context:
    """Everything a command or an evaluation may depend on besides the host's own facts."""

    indicators: Indicators
    platform: Platform = Platform.LINUX
    data_paths: tuple[str, ...] = DEFAULT_DATA_PATHS
    hash_paths: tuple[str, ...] = DEFAULT_HASH_PATHS
    since: datetime | None = None
    shared_kernel: bool = False  # a lab host: its kernel (modules) is the control node's
    signature_max_age_days: int = 7
    # SHA256 fingerprints allowed in root's and system accounts' authorized_keys when there
    # is no baseline (expected_keys.py: from the inventory and the login key)
    expected_keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fact:
    name: str
    command: Callable[[Context], str]
    parse: Callable[[CommandOutput], Any]
    in_baseline: bool = True  # captured into baseline manifests
    wanted: Callable[[Context, bool], bool] = lambda ctx, has_baseline: True


Evaluate = Callable[[Mapping[str, Any], Mapping[str, Any] | None, Context], list[Finding]]


@dataclass(frozen=True)
class Check:
    name: str
    facts: tuple[str, ...]
    evaluate: Evaluate
    needs_baseline: bool = False
    description: str = ""


@dataclass(frozen=True)
class Catalog:
    platform: Platform
    facts: tuple[Fact, ...]
    checks: tuple[Check, ...] = field(default=())

    def fact(self, name: str) -> Fact:
        for fact in self.facts:
            if fact.name == name:
                return fact
        raise KeyError(name)


# -- helpers shared by the platform catalogs ---------------------------------------------------


def ok(check: str, detail: str) -> Finding:
    return Finding(check=check, status=FindingStatus.PASS, detail=detail)


def fail(
    check: str, detail: str, evidence: list[str] | tuple[str, ...] = (), strong: bool = False
) -> Finding:
    return Finding(
        check=check,
        status=FindingStatus.FAIL,
        detail=detail,
        evidence=tuple(evidence)[:MAX_LISTED],
        severity=Severity.STRONG if strong else Severity.DRIFT,
    )


def warn(check: str, detail: str, evidence: list[str] | tuple[str, ...] = ()) -> Finding:
    """Worth a look, not a verdict on its own (e.g. nothing to compare with)."""
    return Finding(
        check=check,
        status=FindingStatus.WARN,
        detail=detail,
        evidence=tuple(evidence)[:MAX_LISTED],
        severity=Severity.INFO,
    )


def error(check: str, detail: str) -> Finding:
    return Finding(check=check, status=FindingStatus.ERROR, detail=detail, severity=Severity.DRIFT)


def sample(items: list[str] | tuple[str, ...], n: int = 3) -> str:
    """'a, b, c and 4 more': a one-line summary that stays one line."""
    shown = ", ".join(items[:n])
    return f"{shown} and {len(items) - n} more" if len(items) > n else shown


def diff_keys(
    current: Mapping[str, Any], baseline: Mapping[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """(added, changed, removed) keys between two mappings, each sorted."""
    added = sorted(k for k in current if k not in baseline)
    changed = sorted(k for k in current if k in baseline and current[k] != baseline[k])
    removed = sorted(k for k in baseline if k not in current)
    return added, changed, removed


def lines(output: CommandOutput) -> list[str]:
    """Non-blank lines, read lazily: a flood of empty lines never becomes a huge list."""
    return [line.rstrip("\r\n") for line in io.StringIO(output.stdout) if line.strip()]


def fields(text: str, sep: str = "\0") -> Iterator[str]:
    """``text.split(sep)`` one field at a time (a flood of separators stays small)."""
    start = 0
    while True:
        end = text.find(sep, start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def require_rc(output: CommandOutput, allowed: tuple[int, ...] = (0,)) -> None:
    if output.timed_out:
        raise FactError(f"timed out after {output.duration_s:.0f}s")
    if output.rc not in allowed:
        reason = (output.stderr.strip().splitlines() or ["no error output"])[-1]
        raise FactError(f"exit code {output.rc}: {reason[:160]}")
