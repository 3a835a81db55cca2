"""`restore validate` and `restore plan` (filled in by the foundation work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Planning commands are added here."""
