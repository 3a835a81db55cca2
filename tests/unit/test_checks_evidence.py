"""Evidence store through the local transport: bounded copies, hashes, custody, no deletion."""

from __future__ import annotations

import hashlib
from pathlib import Path

from restore.integrity.checks.catalog import fail, ok
from restore.integrity.evidence import EvidenceStore, read_custody
from restore.models import Credential, FindingStatus, HostSpec, Platform
from restore.transports.local import LocalTransport

HOST = HostSpec("ctl", Platform.LINUX, "127.0.0.1", 22, None, Credential("none"))


def test_failed_findings_files_are_copied_hashed_and_left_in_place(tmp_path: Path) -> None:
    note = tmp_path / "host" / "README_RESTORE_FILES.txt"
    note.parent.mkdir()
    note.write_text("pay us\n")
    big = tmp_path / "host" / "big.lockbit"
    big.write_bytes(b"z" * 5000)
    store = EvidenceStore(tmp_path / "state", max_file_bytes=1000)
    findings = [
        ok("ld_preload", "none"),
        fail("ransom_notes", "1 note", [str(note)], strong=True),
        fail("encrypted_files", "1 file", [str(big)], strong=True),
    ]
    result = store.collect(LocalTransport(), HOST, findings)
    assert result[:3] == findings  # the findings' own evidence stays the plain paths
    summary = result[-1]
    assert summary.check == "evidence" and summary.status is FindingStatus.PASS
    assert note.exists() and big.exists()  # never deleted on the host
    records = {r["remote_path"]: r for r in read_custody(tmp_path / "state", "ctl")}
    rec = records[str(note)]
    assert rec["sha256"] == rec["remote_sha256"] == hashlib.sha256(b"pay us\n").hexdigest()
    assert Path(str(rec["stored_as"])).read_bytes() == b"pay us\n"
    assert rec["collected_by"] and rec["collected_at"] and rec["address"] == "127.0.0.1"
    bounded = records[str(big)]
    assert bounded["size"] == 1000 and bounded["truncated"] is True
    assert bounded["remote_sha256"] == hashlib.sha256(b"z" * 5000).hexdigest()
    (cut,) = [f for f in result if f.check == "evidence_truncated"]
    assert cut.status is FindingStatus.FAIL and cut.evidence == (
        f"{big}: copied 1000 bytes, remote size 5000, "
        "cut at the per-file cap of 1000 bytes (file of 5000 bytes)",
    )
    assert bounded["truncation"] == "cut at the per-file cap of 1000 bytes (file of 5000 bytes)"


def test_a_file_several_findings_name_is_copied_once(tmp_path: Path) -> None:
    note = tmp_path / "host" / "README_RESTORE_FILES.txt"
    note.parent.mkdir()
    note.write_text("pay us\n")
    findings = [
        fail("ransom_notes", "1 note", [str(note)], strong=True),
        fail("changed_since_incident", "1 file", [str(note)]),
    ]
    result = EvidenceStore(tmp_path / "state").collect(LocalTransport(), HOST, findings)
    (record,) = read_custody(tmp_path / "state", "ctl")
    assert record["remote_path"] == str(note) and record["check"] == "ransom_notes"
    assert result[-1].detail.startswith("1 file(s) copied")
