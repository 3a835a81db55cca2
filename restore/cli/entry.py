"""The `restore` program: start what a planning command will need, then run the Typer app.

`restore plan` and `restore validate` spend most of a first run in ansible-core reading the
inventory. Here, before typer, rich and the command modules are even imported, the
inventory's load starts in a forked child (restore.planning.inventory_background), so that it
overlaps with those imports and the graph's validation. The arguments are only sniffed:
the command's own parsing stays the authority, and a load started for paths the command
does not end up using is killed at exit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from restore.state_dir import PRIVATE_UMASK, user_cache_dir

PLANNING_COMMANDS = frozenset({"plan", "validate"})


def sniff_planning_paths(argv: list[str]) -> list[Path] | None:
    """The inventories (every `-i`, in order) of a `plan`/`validate` command line, or None
    when unsure."""
    if not argv or argv[0] not in PLANNING_COMMANDS:
        return None
    inventories: list[Path] = []
    args = iter(argv[1:])
    for arg in args:
        if arg in {"-h", "--help"}:
            return None
        if arg.partition("=")[0] in {"--vault-password-file", "--ask-vault-pass"}:
            return None  # the vault secrets are known only once the command line is parsed
        name, equals, value = arg.partition("=")
        if name in {"-i", "--inventory", "--state-dir"}:
            if not equals:
                value = next(args, "")
            if name != "--state-dir":
                inventories.append(Path(value))
    return inventories or None


def main() -> None:
    # Root's state must be root's alone: every folder made from here on is 0700, every file
    # 0600 (restore.state_dir).
    os.umask(PRIVATE_UMASK)
    inventories = sniff_planning_paths(sys.argv[1:])
    if inventories is not None:
        from restore.planning.inventory_background import start_early

        start_early(inventories, user_cache_dir())
    from restore.cli.app import main as run_app

    run_app()
