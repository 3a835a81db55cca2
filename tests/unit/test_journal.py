"""The journal's hash chain on a real SQLite file: every kind of tampering is detected."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import sqlite3
from pathlib import Path

from restore.execution.journal import GENESIS_HASH, Journal, redact


def _filled(tmp_path: Path, n: int = 6) -> Journal:
    journal = Journal(tmp_path)
    for i in range(n):
        journal.append("r1", "started", host=f"h{i}", service="svc", step="1:check")
    return journal


def _sql(tmp_path: Path, statement: str, *args: object) -> None:
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    db.execute(statement, args)
    db.commit()
    db.close()


def test_intact_chain_verifies(tmp_path: Path) -> None:
    journal = _filled(tmp_path)
    result = journal.verify()
    assert result.ok, result.breaks
    assert result.events == 6
    assert result.head_hash == journal.head_hash() == result.head_file_hash
    events = journal.events()
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))


def test_edited_row_is_detected(tmp_path: Path) -> None:
    journal = _filled(tmp_path)
    _sql(tmp_path, "UPDATE events SET detail = ? WHERE seq = 3", json.dumps({"by": "mallory"}))
    result = journal.verify()
    assert not result.ok
    assert [(b.seq, b.kind) for b in result.breaks] == [(3, "edited")]


def test_edited_column_is_detected(tmp_path: Path) -> None:
    journal = _filled(tmp_path)
    _sql(tmp_path, "UPDATE events SET event = 'succeeded' WHERE seq = 2")
    assert [(b.seq, b.kind) for b in journal.verify().breaks] == [(2, "edited")]


def test_dropped_row_is_detected(tmp_path: Path) -> None:
    journal = _filled(tmp_path)
    _sql(tmp_path, "DELETE FROM events WHERE seq = 4")
    kinds = {(b.seq, b.kind) for b in journal.verify().breaks}
    assert (5, "seq_gap") in kinds
    assert (5, "dropped_or_inserted") in kinds


def test_dropped_and_renumbered_row_is_detected(tmp_path: Path) -> None:
    journal = _filled(tmp_path)
    _sql(tmp_path, "DELETE FROM events WHERE seq = 4")
    _sql(tmp_path, "UPDATE events SET seq = seq - 1 WHERE seq > 4")
    kinds = {b.kind for b in journal.verify().breaks}
    assert "dropped_or_inserted" in kinds


def test_cut_tail_is_detected_by_the_head_file(tmp_path: Path) -> None:
    journal = _filled(tmp_path)
    _sql(tmp_path, "DELETE FROM events WHERE seq >= 5")
    result = journal.verify()
    assert [b.kind for b in result.breaks] == ["truncated"]


def test_missing_head_file_is_detected(tmp_path: Path) -> None:
    journal = _filled(tmp_path)
    (tmp_path / "journal.head").unlink()
    assert [b.kind for b in journal.verify().breaks] == ["head_missing"]


def test_crash_between_head_and_commit_is_not_truncation(tmp_path: Path) -> None:
    journal = _filled(tmp_path, 3)
    last = journal.events()[-1]
    (tmp_path / "journal.head").write_text(f"4 {'f' * 64} {last.hash}\n")
    result = journal.verify()
    assert result.ok
    assert result.notes


def test_secrets_never_reach_the_database(tmp_path: Path) -> None:
    journal = Journal(tmp_path, secrets=["S3cr3t-pw"])
    journal.append(
        "r1",
        "failed",
        host="h",
        detail={
            "ansible_password": "hunter22",
            "stderr": "login with S3cr3t-pw failed",
            "key": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
            "ansible_ssh_private_key_file": "/keys/id",
            "nested": [{"api_token": "t0k3n"}],
        },
    )
    journal.close()
    raw = (tmp_path / "journal.sqlite").read_bytes()
    wal = tmp_path / "journal.sqlite-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    for secret in (b"hunter22", b"S3cr3t-pw", b"AAAA", b"t0k3n"):
        assert secret not in raw
    assert b"/keys/id" in raw  # where a key lives is useful and not secret


def test_redact_keeps_non_secrets() -> None:
    assert redact({"rc": 2, "stdout": "ok", "password": ""}) == {
        "rc": 2,
        "stdout": "ok",
        "password": "",
    }


def _append_many(state_dir: str, name: str) -> None:
    journal = Journal(Path(state_dir))
    for i in range(40):
        journal.append("r1", "approved", host=name, detail={"i": i})


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), f"w{i}")) for i in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    result = Journal(tmp_path).verify()
    assert result.ok, result.breaks
    assert result.events == 120
    assert not result.notes


def test_runs_table(tmp_path: Path) -> None:
    journal = Journal(tmp_path, secrets=["pw123"])
    run_id = journal.create_run(
        graph_path="g.yaml", graph_hash="abc", inventory="inv.yml", options={"note": "pw123"}
    )
    journal.set_run_state(run_id, "failed")
    record = journal.run()
    assert record is not None
    assert record.run_id == run_id
    assert record.state == "failed"
    assert record.options == {"note": "***"}
    assert journal.run("nope") is None
