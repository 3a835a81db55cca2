"""The run journal: every state change in SQLite, hash-chained, safe for several processes.

Why this shape (DESIGN §6):
- One `events` table, one global chain: each row's ``hash = sha256(prev_hash + canonical JSON
  of the row)``, so editing or dropping a row breaks `verify()`.
- The latest hash is also written to a head file *outside* the database, so cutting off the
  tail (which leaves a perfectly valid shorter chain) is detected too.
- WAL mode, ``BEGIN IMMEDIATE`` and a busy timeout: the operator's second terminal
  (`restore approve`) appends while a run appends, and neither corrupts the chain because the
  previous hash is read under the write lock.
- ``synchronous=FULL``: a forensic record that a power cut can lose is not one.
- Nothing secret enters `detail`: `redact()` (restore.secrets) runs on every append.

This module is the storage and its queries; the chain itself (what a row is, what its hash
covers) is restore.execution.journal_chain, and the walk that checks it journal_verify.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from restore.errors import InputError

# The chain and its verification live in their own modules; re-exported for existing callers.
from restore.execution.journal_chain import GENESIS_HASH as GENESIS_HASH
from restore.execution.journal_chain import Event as Event
from restore.execution.journal_chain import canonical as canonical
from restore.execution.journal_chain import event_of_row
from restore.execution.journal_chain import row_hash as row_hash
from restore.execution.journal_verify import ChainBreak as ChainBreak
from restore.execution.journal_verify import VerifyResult as VerifyResult
from restore.execution.journal_verify import verify_rows

# The secrets policy lives in restore.secrets; re-exported for existing callers.
from restore.secrets import REDACTED as REDACTED
from restore.secrets import redact as redact
from restore.secrets import redact_text as redact_text

DB_NAME = "journal.sqlite"
HEAD_NAME = "journal.head"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    host TEXT,
    service TEXT,
    step TEXT,
    event TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id, seq);
CREATE INDEX IF NOT EXISTS events_host ON events (run_id, host, seq);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    graph_path TEXT NOT NULL,
    graph_hash TEXT NOT NULL,
    inventory TEXT NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL
);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    created: str
    updated: str
    graph_path: str
    graph_hash: str
    inventory: str
    options: dict[str, Any]
    state: str


class NoJournal(InputError):
    """A command that reads or appends to a journal found none (a typo in --state-dir...)."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(
            f"no journal in {state_dir}",
            hint="--state-dir must name the state dir of a run; only `restore run` starts one",
        )


def journal_exists(state_dir: Path) -> bool:
    return (Path(state_dir) / DB_NAME).is_file()


class Journal:
    """The journal under one state dir. One instance per process; thread-safe.

    ``Journal(dir)`` creates the journal if needed (only `run` and `rehearse` do that);
    ``existing=True`` refuses a missing one (operator commands append to a run that must
    exist); ``read_only=True`` also opens SQLite read-only, so a read command can neither
    create nor change anything, whatever path it is given.
    """

    def __init__(
        self,
        state_dir: Path,
        secrets: Iterable[str] = (),
        *,
        existing: bool = False,
        read_only: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / DB_NAME
        self.head_path = self.state_dir / HEAD_NAME
        self.read_only = read_only
        if (existing or read_only) and not journal_exists(self.state_dir):
            raise NoJournal(self.state_dir)
        self._secrets: set[str] = {s for s in secrets if s}
        self._lock = threading.Lock()
        if read_only:
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            self._db = sqlite3.connect(
                uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout = 30000")
            tables = self._db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('events', 'runs')"
            ).fetchone()[0]
            if tables != 2:  # a run creating it this instant, or not a journal at all
                self._db.close()
                raise NoJournal(self.state_dir)
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        # CREATE ... IF NOT EXISTS is idempotent; the busy timeout covers a concurrent opener.
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_secrets(self, values: Iterable[str]) -> None:
        """Values that must never be written (inventory passwords...), redacted on append."""
        self._secrets.update(v for v in values if v)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- events -------------------------------------------------------------------------------

    def append(
        self,
        run_id: str,
        event: str,
        *,
        host: str | None = None,
        service: str | None = None,
        step: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Event:
        clean = redact(dict(detail or {}), self._secrets)
        # Round-trip through JSON now so the stored detail is exactly what was hashed.
        clean = json.loads(canonical(clean))
        with self._write() as db:
            last = db.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
            row: dict[str, Any] = {
                "seq": seq,
                "run_id": run_id,
                "ts": now_iso(),
                "host": host,
                "service": service,
                "step": step,
                "event": event,
                "detail": clean,
            }
            digest = row_hash(prev, row)
            db.execute(
                "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    seq,
                    run_id,
                    row["ts"],
                    host,
                    service,
                    step,
                    event,
                    canonical(clean),
                    prev,
                    digest,
                ),
            )
            # Written under the write lock, before COMMIT, so concurrent writers never leave
            # an older head behind a newer one. If we die between this and COMMIT, the head
            # names a row that never landed; it also names its parent, which `verify` uses to
            # tell that crash from a truncation.
            self._write_head(seq, digest, prev)
        return Event(seq, run_id, row["ts"], host, service, step, event, clean, prev, digest)

    def _write_head(self, seq: int, digest: str, prev: str) -> None:
        tmp = self.head_path.with_name(f".{HEAD_NAME}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(f"{seq} {digest} {prev}\n")
        tmp.replace(self.head_path)

    def read_head(self) -> tuple[int, str, str] | None:
        try:
            seq, digest, prev = self.head_path.read_text().split()
            return int(seq), digest, prev
        except (OSError, ValueError):
            return None

    def events(
        self, run_id: str | None = None, after_seq: int = 0, host: str | None = None
    ) -> list[Event]:
        query = "SELECT * FROM events WHERE seq > ?"
        args: list[Any] = [after_seq]
        if run_id is not None:
            query += " AND run_id = ?"
            args.append(run_id)
        if host is not None:
            query += " AND host = ?"
            args.append(host)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY seq", args).fetchall()
        return [event_of_row(r) for r in rows]

    def head_hash(self) -> str:
        with self._lock:
            last = self._db.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        return str(last[0]) if last else GENESIS_HASH

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        graph_path: str,
        graph_hash: str,
        inventory: str,
        options: Mapping[str, Any],
        run_id: str | None = None,
    ) -> str:
        run_id = run_id or new_run_id()
        stamp = now_iso()
        with self._write() as db:
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    stamp,
                    stamp,
                    graph_path,
                    graph_hash,
                    inventory,
                    canonical(redact(dict(options), self._secrets)),
                    "running",
                ),
            )
        return run_id

    def set_run_state(self, run_id: str, state: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET state = ?, updated = ? WHERE run_id = ?",
                (state, now_iso(), run_id),
            )

    def run(self, run_id: str | None = None) -> RunRecord | None:
        """The named run, or the latest one."""
        with self._lock:
            if run_id is None:
                row = self._db.execute(
                    "SELECT * FROM runs ORDER BY created DESC, rowid DESC LIMIT 1"
                ).fetchone()
            else:
                row = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        return RunRecord(
            run_id=row[0],
            created=row[1],
            updated=row[2],
            graph_path=row[3],
            graph_hash=row[4],
            inventory=row[5],
            options=json.loads(row[6]),
            state=row[7],
        )

    # -- verification -------------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Walk the whole chain; return every break found (an empty tuple means intact)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM events ORDER BY seq").fetchall()
        return verify_rows(rows, self.read_head(), self.head_path)
