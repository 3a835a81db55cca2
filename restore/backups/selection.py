"""Snapshot verdicts and the last clean restore point.

The last clean snapshot is the newest clean one taken before the first snapshot that is
not clean. A clean-looking snapshot after a compromised one is not offered: an attacker
who was seen once may have hidden better since (dwell time), so restoring from there would
trust exactly what the scan could not see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from restore.backups.analysis import COMPROMISED, SUSPECT, Finding

CLEAN = "clean"


def verdict(findings: Iterable[Finding]) -> str:
    severities = {f.severity for f in findings}
    if COMPROMISED in severities:
        return COMPROMISED
    if SUSPECT in severities:
        return SUSPECT
    return CLEAN


def last_clean(verdicts: Sequence[str]) -> int | None:
    """Index (in oldest-first order) of the last clean snapshot, or None."""
    chosen = None
    for index, value in enumerate(verdicts):
        if value != CLEAN:
            break
        chosen = index
    return chosen
