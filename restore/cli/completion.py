"""Shell completion of host names and step keys for the operator commands (`approve`,
`mark-done`, `retry`, `skip`), read from the journal of the latest run (or `--run`).

Read-only by construction: the journal is opened with SQLite's `mode=ro` URI and nothing is
created, so pressing Tab in a folder without a run writes nothing there (the Journal class
would create the state dir). Any failure completes nothing: a completion never prints an
error into the user's shell line.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from restore.cli.defaults import DEFAULT_STATE_DIR, STATE_DIR_ENV
from restore.execution.journal import DB_NAME


def _state_dir(ctx: Any) -> Path:
    given = (getattr(ctx, "params", None) or {}).get("state_dir")
    return Path(given or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def _rows(ctx: Any, query: str, *args: str) -> list[tuple[Any, ...]]:
    path = _state_dir(ctx) / DB_NAME
    if not path.is_file():
        return []
    run_id = (getattr(ctx, "params", None) or {}).get("run_id")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            if not run_id:
                latest = db.execute("SELECT run_id FROM runs ORDER BY created DESC LIMIT 1")
                row = latest.fetchone()
                if row is None:
                    return []
                run_id = row[0]
            return db.execute(query, (run_id, *args)).fetchall()
    except sqlite3.Error:
        return []


def run_hosts(ctx: Any) -> list[str]:
    """The run's hosts, in plan order (from its `run_started` row, else as seen)."""
    rows = _rows(ctx, "SELECT detail FROM events WHERE run_id = ? AND event = 'run_started'")
    names: list[str] = []
    for (detail,) in rows:
        try:
            names += [str(h["host"]) for h in json.loads(detail).get("hosts") or []]
        except (ValueError, TypeError, KeyError):
            continue
    seen = _rows(ctx, "SELECT DISTINCT host FROM events WHERE run_id = ? AND host IS NOT NULL")
    names += [str(host) for (host,) in seen]
    return list(dict.fromkeys(names))


def complete_host(ctx: Any, incomplete: str) -> list[str]:
    return [name for name in run_hosts(ctx) if name.startswith(incomplete)]


def complete_step(ctx: Any, incomplete: str) -> list[str]:
    """The chosen host's step keys ("4:check"), and 'host' for skip."""
    host = (getattr(ctx, "params", None) or {}).get("host")
    keys: list[str] = []
    rows = _rows(ctx, "SELECT detail FROM events WHERE run_id = ? AND event = 'run_started'")
    for (detail,) in rows:
        try:
            for item in json.loads(detail).get("hosts") or []:
                if item.get("host") == host:
                    keys += [str(step["key"]) for step in item.get("steps") or []]
        except (ValueError, TypeError, AttributeError):
            continue
    seen = _rows(
        ctx,
        "SELECT DISTINCT step FROM events WHERE run_id = ? AND host = ? AND step IS NOT NULL",
        str(host),
    )
    keys += [str(step) for (step,) in seen]
    if getattr(getattr(ctx, "command", None), "name", "") == "skip":
        keys.append("host")
    return [k for k in dict.fromkeys(keys) if k.startswith(incomplete)]
