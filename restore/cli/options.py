"""Options every command shares (DESIGN §4): --format and --state-dir."""

from __future__ import annotations

import enum

import typer

from restore.cli.defaults import DEFAULT_STATE_DIR, STATE_DIR_ENV
from restore.state_dir import check_state_dir


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


STATE_DIR_OPTION = typer.Option(
    DEFAULT_STATE_DIR,
    "--state-dir",
    help="Where runs, the journal, evidence and the lab live (yours alone: 0700).",
    envvar=STATE_DIR_ENV,
    callback=check_state_dir,
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
