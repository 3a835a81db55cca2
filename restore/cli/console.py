"""One place for terminal output: rich for people (stderr for messages), plain JSON on stdout.

Keeping stdout for data alone means `restore ... --format json | jq` always works, even when
warnings or progress are printed.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout, and nothing else."""
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {message}", markup=True, highlight=False)


def info(message: str) -> None:
    err.print(message, markup=False, highlight=False)
