"""The journal's hash chain: what a row is, and the exact bytes its hash covers (DESIGN §6).

Each row's ``hash = sha256(prev_hash + canonical JSON of the row)``; the first row follows
``GENESIS_HASH``. Kept apart from the SQLite storage (restore.execution.journal) and from the
walk that checks a chain (restore.execution.journal_verify), so that the fold of a run
(restore.execution.run_fold) and the report read rows without opening a database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64
# The columns a row's hash covers, in the order of the events table.
HASHED_COLUMNS = ("seq", "run_id", "ts", "host", "service", "step", "event")


def canonical(row: Mapping[str, Any]) -> str:
    """The exact bytes a row's hash covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    hashed = {k: row[k] for k in HASHED_COLUMNS}
    hashed["detail"] = row["detail"]
    return hashlib.sha256((prev_hash + canonical(hashed)).encode()).hexdigest()


@dataclass(frozen=True)
class Event:
    seq: int
    run_id: str
    ts: str
    host: str | None
    service: str | None
    step: str | None
    event: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "run_id": self.run_id,
            "ts": self.ts,
            "host": self.host,
            "service": self.service,
            "step": self.step,
            "event": self.event,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Event:
        """A row as `journal export` gives it (a detail that is not an object is kept as
        its text, so a hand-edited export still reads)."""
        detail = row.get("detail") or {}
        if not isinstance(detail, dict):
            detail = {"text": str(detail)}
        return cls(
            seq=int(row.get("seq") or 0),
            run_id=str(row.get("run_id") or ""),
            ts=str(row.get("ts") or ""),
            host=str(row["host"]) if row.get("host") else None,
            service=str(row["service"]) if row.get("service") else None,
            step=str(row["step"]) if row.get("step") else None,
            event=str(row.get("event") or ""),
            detail=detail,
            prev_hash=str(row.get("prev_hash") or ""),
            hash=str(row.get("hash") or ""),
        )


def event_of_row(raw: tuple[Any, ...]) -> Event:
    """An Event from a row of the events table (columns in table order)."""
    return Event(
        seq=int(raw[0]),
        run_id=str(raw[1]),
        ts=str(raw[2]),
        host=raw[3],
        service=raw[4],
        step=raw[5],
        event=str(raw[6]),
        detail=json.loads(raw[7]),
        prev_hash=str(raw[8]),
        hash=str(raw[9]),
    )
