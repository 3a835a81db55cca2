"""Defaults shared by the option definitions and the entry point, importable without typer."""

from __future__ import annotations

from pathlib import Path

DEFAULT_STATE_DIR = Path(".restore")
STATE_DIR_ENV = "RESTORE_STATE_DIR"
