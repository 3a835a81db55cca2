"""Options every command shares (DESIGN §4): --format and --state-dir."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from restore.cli.defaults import DEFAULT_STATE_DIR, STATE_DIR_ENV
from restore.secrets import configure_vault
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
INVENTORIES_OPTION = typer.Option(
    ...,
    "-i",
    "--inventory",
    help="Ansible inventory (INI, YAML, directory or dynamic script), read by ansible-core. "
    "Repeat it (-i groups -i hosts) to merge several, in order, exactly as Ansible does.",
)


# The vault options only record what they were given (restore.secrets): every inventory load
# of the command then uses them, and so do the playbooks it runs.
def _vault_files(value: list[Path] | None) -> list[Path] | None:
    configure_vault(password_files=value or ())
    return value


def _ask_vault(value: bool) -> bool:
    configure_vault(ask=value)
    return value


VAULT_PASSWORD_FILE_OPTION = typer.Option(
    None,
    "--vault-password-file",
    help="File (or executable) giving the ansible-vault password of the inventory; "
    "repeatable. Default: ANSIBLE_VAULT_PASSWORD_FILE.",
    callback=_vault_files,
)
ASK_VAULT_PASS_OPTION = typer.Option(
    False,
    "--ask-vault-pass",
    help="Ask for the ansible-vault password of the inventory.",
    callback=_ask_vault,
)
