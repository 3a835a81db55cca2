"""Verdict aggregation and the indicators file."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore.errors import InputError
from restore.integrity.checks.catalog import error, fail, ok, warn
from restore.integrity.checks.indicators import SHIPPED, load_indicators
from restore.integrity.checks.verdict import aggregate, explain
from restore.models import Verdict


def test_aggregate() -> None:
    assert aggregate([ok("a", "fine")]) is Verdict.CLEAN
    assert aggregate([ok("a", "fine"), warn("b", "no baseline")]) is Verdict.CLEAN
    assert aggregate([fail("a", "drift")]) is Verdict.SUSPECT
    assert aggregate([error("a", "timed out")]) is Verdict.SUSPECT
    assert aggregate([fail("a", "drift"), fail("b", "note", strong=True)]) is Verdict.COMPROMISED
    assert "b: note" in explain(
        Verdict.COMPROMISED, [fail("a", "x"), fail("b", "note", strong=True)]
    )


def test_every_shipped_indicator_names_its_source() -> None:
    import yaml

    data = yaml.safe_load(SHIPPED.read_text())
    for section in ("ransom_notes", "encrypted_extensions", "rootkit_modules"):
        assert data[section]
        for entry in data[section]:
            assert entry["source"] and entry["family"], entry
    ind = load_indicators()
    assert ind.is_note("README_RESTORE_FILES.txt") and ind.is_note("Restore-My-Files.txt")
    assert not ind.is_note("readme.txt") and not ind.is_note("README.md")
    assert ind.encrypted_extension("x.csv.LockBit") == "lockbit"


def test_user_indicators_extend_and_bad_ones_are_refused(tmp_path: Path) -> None:
    extra = tmp_path / "site.yaml"
    extra.write_text(
        "ransom_notes:\n  - {pattern: 'lis-ransom*', source: site}\n"
        "encrypted_extensions: [{extension: .chu}]\n"
    )
    ind = load_indicators(extra)
    assert ind.is_note("LIS-RANSOM.txt") and ind.encrypted_extension("a.chu") == "chu"
    assert ind.is_note("Restore-My-Files.txt")
    extra.write_text("ransom_note: []\n")
    with pytest.raises(InputError, match="unknown key 'ransom_note'"):
        load_indicators(extra)
    extra.write_text('ransom_notes: [{pattern: "x\'; rm -rf /"}]\n')
    with pytest.raises(InputError, match="may not contain"):
        load_indicators(extra)
