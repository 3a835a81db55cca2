"""Options every command shares (DESIGN §4): --format and --state-dir."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

DEFAULT_STATE_DIR = Path(".restore")


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


STATE_DIR_OPTION = typer.Option(
    DEFAULT_STATE_DIR,
    "--state-dir",
    help="Where runs, the journal, evidence and the lab live.",
    envvar="RESTORE_STATE_DIR",
)
FORMAT_OPTION = typer.Option(
    OutputFormat.TABLE,
    "--format",
    help="table for people; json for scripts (stdout carries the JSON alone).",
    case_sensitive=False,
)
INVENTORY_OPTION = typer.Option(
    ...,
    "-i",
    "--inventory",
    help="Ansible inventory (INI, YAML, directory or dynamic script), read by ansible-core.",
)
