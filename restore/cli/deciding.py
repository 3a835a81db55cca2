"""Operator decisions: `restore approve`, `mark-done`, `retry` and `skip`.

They only append journal rows, after checks against the live run (restore.execution.
operator_decisions); the running engine (possibly in another terminal) reads them. They never
touch a host themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from restore.cli import console
from restore.cli.completion import complete_host, complete_step
from restore.cli.options import STATE_DIR_OPTION
from restore.errors import InputError
from restore.execution.journal import Journal

_OPERATOR_EVENT = {"mark-done": "marked_done", "retry": "retried", "skip": "waived"}


_RULES_HELP = (
    " Checked before anything is written (a refused decision exits 2 and writes nothing):"
    " it goes to the live run (the process holding the state dir's run lock), or, when no"
    " run is live, to the run named by --run (default: the latest) only if --resume would"
    " continue it (it stopped for an operator, was interrupted, or failed). HOST must be in"
    " the run and STEP one of its steps: mark-done and skip need one not already done, retry"
    " one that was started and did not finish, and none may target a step the live run is"
    " executing now. --by and --reason must not be blank. Journals --by, --reason, the OS"
    " user, the terminal and the step key. See docs/running.md."
)


def approve_command(
    host: str = typer.Argument(
        ..., help="The host waiting at an approve step.", autocompletion=complete_host
    ),
    by: str = typer.Option(..., "--by", help="Who approves (journaled; not empty)."),
    reason: str = typer.Option("", "--reason", help="Why (journaled)."),
    step: str | None = typer.Option(
        None,
        "--step",
        help="Approve this approve step of HOST ahead of time (its number, key or label); "
        "default: the gate HOST is waiting at now.",
    ),
    run_id: str | None = typer.Option(None, "--run", help="Default: the live run."),
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Release a host's approve gate in the live run (from a second terminal while it runs).

    Only a host waiting at an approve gate now (or, with --step, an approve step still ahead
    of it) of the live run; otherwise exit 2, naming the hosts that are waiting.
    """
    from restore.execution.operator_decisions import (
        check_approval,
        check_who,
        decision_run,
        who_detail,
    )
    from restore.execution.runlock import live_holder

    name, why = check_who(by, reason, reason_required=False)
    journal = Journal(state_dir, existing=True)
    rid = decision_run(journal, live_holder(state_dir), run_id, approval=True)
    events = journal.events(rid)
    approve_steps: list[str] = []
    if step is not None:
        planned = _planned_steps(journal, rid, host)
        key = _match_step(host, step, [k for k, _ in planned])
        approve_steps = [k for k, kind in planned if kind == "approve"]
        step = key
    key = check_approval(events, rid, host, step, approve_steps)
    event = journal.append(rid, "approved", host=host, step=key, detail=who_detail(name, why))
    console.info(f"approved {host} {key} in run {rid} (journal row {event.seq})")


def _decision(kind: str) -> Any:
    def command(
        host: str = typer.Argument(..., help="Host name.", autocompletion=complete_host),
        step: str = typer.Argument(
            ...,
            help="Step number (see `restore status`), its full name, or 'host' (skip only).",
            autocompletion=complete_step,
        ),
        by: str = typer.Option(..., "--by", help="Who decides (journaled; not empty)."),
        reason: str = typer.Option(..., "--reason", help="Why (journaled; not empty)."),
        run_id: str | None = typer.Option(
            None, "--run", help="Default: the live run, else the latest run."
        ),
        state_dir: Path = STATE_DIR_OPTION,
    ) -> None:
        from restore.execution.operator_decisions import (
            check_step_decision,
            check_who,
            decision_run,
            host_of,
            who_detail,
        )
        from restore.execution.runlock import live_holder

        name, why = check_who(by, reason, reason_required=True)
        journal = Journal(state_dir, existing=True)
        holder = live_holder(state_dir)
        rid = decision_run(journal, holder, run_id, approval=False)
        record = host_of(journal.events(rid), rid, host)
        key = None
        if not (kind == "skip" and step == "host"):
            key = _match_step(host, step, [k for k, _ in _planned_steps(journal, rid, host)])
        check_step_decision(kind, record, rid, key, live=holder is not None)
        event = journal.append(
            rid, _OPERATOR_EVENT[kind], host=host, step=key, detail=who_detail(name, why)
        )
        target = key or "the whole host"
        console.info(f"{kind}: {host} {target} in run {rid} (journal row {event.seq})")
        if kind != "skip" and holder is None:
            console.info("continue the run with `restore run GRAPH -i INV --resume`")

    command.__doc__ = {
        "mark-done": "Record that an operator completed a step by hand (it will not run again).",
        "retry": "Allow a started, non-idempotent step to run again on --resume.",
        "skip": "Waive a step (or 'host': the whole host), with name and reason.",
    }[kind] + _RULES_HELP
    return command


def _planned_steps(journal: Journal, run_id: str, host: str) -> list[tuple[str, str]]:
    """(step key, step type) of each of the host's steps in the run's plan.

    They come from the run's own `run_started` row (restore.execution.run_snapshot), never from the
    graph file: a decision is taken from any folder, whatever became of that file."""
    events = journal.events(run_id)
    started = next((e for e in events if e.event == "run_started"), None)
    hosts = started.detail.get("hosts") if started is not None else None
    known = [h for h in hosts or [] if isinstance(h, dict) and h.get("host") == host]
    if hosts and not known:
        raise InputError(f"host '{host}' is not in the plan of run {run_id}")
    planned = [
        (str(st.get("key")), str(st.get("type")))
        for st in (known[0].get("steps") or [] if known else [])
        if isinstance(st, dict) and st.get("key")
    ]
    if not planned:  # a journal from before the plan was kept in it: the keys it has seen
        seen = dict.fromkeys(e.step for e in events if e.host == host and e.step)
        planned = [(key, key.split(":", 1)[1].split(":", 1)[0]) for key in seen if ":" in key]
    if not planned:
        raise InputError(f"host '{host}' has no steps in run {run_id}")
    return planned


def _match_step(host: str, step: str, keys: list[str]) -> str:
    """Accept '4', '4:check' or a unique label; return the journal's step key."""
    matches = [k for k in keys if step in (k, k.split(":", 1)[0], k.split(":", 1)[1])]
    if len(matches) != 1:
        raise InputError(
            f"step '{step}' of {host} is {'ambiguous' if matches else 'unknown'}",
            hint="one of: " + ", ".join(keys),
        )
    return matches[0]


def register(app: typer.Typer) -> None:
    app.command("approve")(approve_command)
    for kind in ("mark-done", "retry", "skip"):
        app.command(kind)(_decision(kind))
