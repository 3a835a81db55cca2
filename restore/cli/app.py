"""Entry point: the Typer app, with every RestoreError turned into its exit code.

Errors are caught in the top-level click group so that they behave the same under
`restore ...` and under typer's CliRunner in tests: a one-line message, no traceback.
"""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperGroup

from restore import logs
from restore.cli import console
from restore.errors import (
    EXIT_INTERRUPTED,
    EXIT_OPERATIONAL,
    InputErrors,
    Interrupted,
    RestoreError,
)


class _RestoreGroup(TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except InputErrors as exc:
            # Every problem at once, one per line, each printed once.
            console.error(f"{len(exc.errors)} problems:")
            for problem in exc.errors:
                console.info(f"  - {problem}")
            raise typer.Exit(exc.exit_code) from None
        except RestoreError as exc:
            console.error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.error(Interrupted("interrupted; resume with --resume").args[0])
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # the promise is: never a traceback for the user
            if os.environ.get("RESTORE_DEBUG"):
                raise
            console.error(
                f"internal error: {type(exc).__name__}: {exc} "
                "(set RESTORE_DEBUG=1 to see the traceback, and please report it)"
            )
            raise typer.Exit(EXIT_OPERATIONAL) from None


app = typer.Typer(
    cls=_RestoreGroup,
    name="restore",
    help=(
        "Bring a hospital's servers back after ransomware: in clinical priority order, "
        "each host proven clean before it rejoins the network, every action journaled.\n\n"
        "Start with `restore validate` and `restore plan`; rehearse with `restore rehearse "
        "--lab`; recover with `restore run`."
    ),
    no_args_is_help=True,
    # `restore --install-completion` / `--show-completion`: commands, options, and for the
    # operator commands the hosts and step keys of the run (restore.cli.completion)
    add_completion=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global_options(
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        help="Show what the tool does on stderr: -v for each step, -vv for every journal "
        "event and transport detail. Secrets are masked. Give it before the command: "
        "`restore -v run ...`. A run also keeps its log in STATE_DIR/runs/RUN_ID/restore.log.",
    ),
) -> None:
    logs.configure(verbose)


def _register_commands() -> None:
    # Each command module registers its commands on the app; the list is the CLI's table of
    # contents.
    from restore.cli import backups, checking, lab, nodes, planning, rehearsing, reporting, running

    for module in (planning, checking, running, reporting, rehearsing, lab, nodes, backups):
        module.register(app)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
