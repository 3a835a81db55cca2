"""Walk a journal's hash chain and say where it does not hold (DESIGN §6).

Two checks, for two ways of tampering: each row must hash to its stored hash and follow the
row before it (an edited, dropped or inserted row), and the head file kept outside the
database must name the last row (a tail cut off, which leaves a valid shorter chain).
Pure over the rows and the head file's content, so an investigator's copy is checked the
same way as the live database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restore.execution.journal_chain import GENESIS_HASH, HASHED_COLUMNS, row_hash


@dataclass(frozen=True)
class ChainBreak:
    """One place where the chain does not hold, explained for an investigator."""

    seq: int | None
    kind: str  # edited | dropped_or_inserted | seq_gap | truncated | head_missing | unreadable
    message: str


@dataclass(frozen=True)
class VerifyResult:
    events: int
    head_hash: str
    head_file_hash: str | None
    breaks: tuple[ChainBreak, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.breaks

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head_hash": self.head_hash,
            "head_file_hash": self.head_file_hash,
            "breaks": [{"seq": b.seq, "kind": b.kind, "message": b.message} for b in self.breaks],
            "notes": list(self.notes),
        }


def verify_rows(
    rows: Sequence[tuple[Any, ...]], head: tuple[int, str, str] | None, head_path: Path
) -> VerifyResult:
    """Every break in `rows` (events table rows, in seq order) and against the head file's
    (seq, hash, parent hash), or None when it could not be read."""
    breaks: list[ChainBreak] = []
    prev = GENESIS_HASH
    expected_seq = 1
    hashes: dict[str, int] = {}
    for raw in rows:
        seq = int(raw[0])
        if seq != expected_seq:
            breaks.append(ChainBreak(seq, "seq_gap", f"rows {expected_seq}..{seq - 1} are missing"))
        breaks += _row_breaks(raw, prev)
        prev = raw[9]
        hashes[raw[9]] = seq
        expected_seq = seq + 1
    last_seq = int(rows[-1][0]) if rows else 0
    notes: list[str] = []
    if head is None:
        if rows:
            breaks.append(ChainBreak(None, "head_missing", f"head file {head_path} is missing"))
    else:
        breaks += _head_breaks(head, hashes, last_seq, prev, notes)
    return VerifyResult(
        events=len(rows),
        head_hash=prev,
        head_file_hash=head[1] if head else None,
        breaks=tuple(breaks),
        notes=tuple(notes),
    )


def _row_breaks(raw: tuple[Any, ...], prev: str) -> list[ChainBreak]:
    """What is wrong with one row: unreadable detail, not following `prev`, edited."""
    seq = int(raw[0])
    breaks = []
    try:
        detail = json.loads(raw[7])
    except ValueError:
        breaks.append(ChainBreak(seq, "unreadable", "detail is not valid JSON"))
        detail = raw[7]
    row: dict[str, Any] = dict(zip(HASHED_COLUMNS, (seq, *raw[1:7]), strict=True))
    row["detail"] = detail
    if raw[8] != prev:
        breaks.append(
            ChainBreak(
                seq,
                "dropped_or_inserted",
                f"row {seq} does not follow the row before it (prev_hash differs)",
            )
        )
    if row_hash(raw[8], row) != raw[9]:
        breaks.append(ChainBreak(seq, "edited", f"row {seq} was changed after it was written"))
    return breaks


def _head_breaks(
    head: tuple[int, str, str],
    hashes: dict[str, int],
    last_seq: int,
    prev: str,
    notes: list[str],
) -> list[ChainBreak]:
    """The head file against the chain: a cut tail is a break, a crash mid-write a note."""
    head_seq, head_digest, head_prev = head
    if head_digest in hashes:
        if hashes[head_digest] != last_seq:
            notes.append(f"{last_seq - hashes[head_digest]} row(s) after the head file's row")
        return []
    if head_seq == last_seq + 1 and head_prev == prev:
        notes.append(f"row {head_seq} was being written when a process died; not kept")
        return []
    return [
        ChainBreak(
            head_seq,
            "truncated",
            f"the head file names row {head_seq} ({head_digest[:12]}...), which "
            f"is not in the journal (last row: {last_seq}): rows were cut off",
        )
    ]
