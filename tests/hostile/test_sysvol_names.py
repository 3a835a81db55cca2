"""SYSVOL names in a DC's baseline (DESIGN §9: names are data, escaped at every boundary).

Every string of the corpus as a file name in a GPO folder: kept as the server sent it through
the baseline manifest's JSON (so an unchanged file compares equal), shown escaped and bounded
when it differs (no forged line, no terminal control, no NUL).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from restore.directory import analysis, sysvol_baseline
from restore.directory.model import Entry, Snapshot
from restore.directory.sysvol import GpoFolder, SysvolFile
from restore.models import Finding, FindingStatus
from tests.hostile.corpus import HOSTILE

GUID = "{5963E961-CF99-4431-B06E-378F0A6BC217}"
GPO = Entry(
    dn=f"CN={GUID},CN=Policies,CN=System,DC=lab,DC=test",
    attrs={"displayname": ("Workstation hardening",), "name": (GUID,)},
)
SNAPSHOT = Snapshot("DC=lab,DC=test", "S-1-5-21-1", datetime.now(UTC), (), (GPO,))


def sysvol_finding(files: tuple[SysvolFile, ...], base_files: tuple[SysvolFile, ...]) -> Finding:
    record = sysvol_baseline.record({GUID: GpoFolder(GUID, base_files)})
    base = json.loads(json.dumps({"sysvol": record}, sort_keys=True))  # as a manifest keeps it
    found = analysis.evaluate(SNAPSHOT, None, base, {GUID: GpoFolder(GUID, files)})
    return next(f for f in found if f.check == "dir-sysvol")


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_name_round_trips_and_is_shown_escaped(name: str) -> None:
    f = SysvolFile(f"Machine/{name}", "file", 1, None, "ab" * 32)
    assert sysvol_finding((f,), (f,)).status is FindingStatus.PASS
    added = sysvol_finding((f,), ())
    assert added.status is FindingStatus.FAIL
    for line in (added.detail, *added.evidence):
        assert not any(c in line for c in "\n\r\x1b\x00\x07\u202e"), line
        assert len(line) < 1_000
