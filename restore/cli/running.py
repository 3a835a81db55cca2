"""`restore run`, `status`, operator decisions and `journal verify|export`.

Operator commands only append journal rows; the running engine (possibly in another
terminal) reads them. They never touch a host themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from restore.cli import console
from restore.cli.completion import complete_host, complete_step
from restore.cli.live_view import LiveProgress
from restore.cli.options import FORMAT_OPTION, INVENTORY_OPTION, STATE_DIR_OPTION, OutputFormat
from restore.errors import EXIT_OK, EXIT_OPERATIONAL, InputError
from restore.journal import Journal

_OPERATOR_EVENT = {"mark-done": "marked_done", "retry": "retried", "skip": "waived"}


def _open_journal(state_dir: Path) -> Journal:
    return Journal(state_dir)


def _resolve_run(journal: Journal, run_id: str | None) -> str:
    record = journal.run(run_id)
    if record is None:
        if run_id:
            raise InputError(f"no run '{run_id}' in {journal.state_dir}", key="--run")
        raise InputError(
            f"no run has been started in {journal.state_dir} yet",
            hint="start one with `restore run`, or point --state-dir at the run's folder",
        )
    return record.run_id


def run_command(
    graph: Path = typer.Argument(..., help="The dependency graph (YAML, version 1)."),
    inventory: str = INVENTORY_OPTION,
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Walk the whole plan touching no host: each step says what it would do, and "
        "the summary lists the gates (approvals, reconnect-needs-clean...) a real run stops at.",
    ),
    max_parallel: int = typer.Option(1, "--max-parallel", min=1, help="Hosts at once, in all."),
    yes: bool = typer.Option(False, "--yes", help="Approve every approval gate (rehearsals)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest (or --run) run."),
    run_id: str | None = typer.Option(None, "--run", help="The run to resume."),
    winrm_insecure: bool = typer.Option(
        False, "--winrm-insecure", help="Do not validate WinRM HTTPS certificates (lab only)."
    ),
    output_format: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Execute the plan: quarantine, evidence, check, rebuild, verify, reconnect, host by host."""
    from restore.engine import Engine, RunOptions
    from restore.graph import load_graph
    from restore.inventory import load_inventory
    from restore.plan import build_plan
    from restore.prefork.service import PreforkAnsible

    spec = load_graph(graph)
    journal = _open_journal(state_dir)
    # Started first: it warms ansible-core up (on the other core) while the inventory loads.
    with PreforkAnsible(log_path=state_dir / "prefork.log") as prefork:
        hosts = load_inventory(inventory, with_secrets=True)
        plan = build_plan(spec, hosts, max_parallel=(max_parallel,))
        progress = LiveProgress(
            quiet=output_format is OutputFormat.JSON and not sys.stderr.isatty(),
            state_dir=state_dir,
            journal=journal,
        )
        engine = Engine(
            plan,
            hosts,
            inventory,
            journal,
            RunOptions(
                dry_run=dry_run,
                max_parallel=max_parallel,
                assume_yes=yes,
                resume=resume,
                winrm_insecure=winrm_insecure,
                run_id=run_id,
            ),
            processor=progress,
            prefork=prefork,
        )
        try:
            result = engine.run()
        finally:
            progress.stop()
    if output_format is OutputFormat.JSON:
        console.emit_json(result.to_json())
    else:
        _print_hosts(result.run_id, result.state, result.to_json()["hosts"], result.head_hash)
        if result.dry_run:
            _print_gates(result.gates)
    raise typer.Exit(result.exit_code)


def _print_gates(gates: tuple[dict[str, str], ...]) -> None:
    """A dry run's last word: where the real run would stop and wait, or refuse."""
    if not gates:
        console.out.print("dry run: a real run would stop at no gate")
        return
    table = Table(title=f"dry run: a real run would stop at {len(gates)} gate(s)")
    for column in ("host", "step", "gate"):
        table.add_column(column)
    for gate in gates:
        table.add_row(Text(gate["host"]), Text(gate["step"]), Text(gate["gate"]))
    console.out.print(table)


def _print_hosts(run_id: str, state: str, hosts: list[dict[str, Any]], head: str) -> None:
    table = Table(title=f"run {run_id}: {state}")
    for column in ("host", "service", "state", "step", "verdict", "note"):
        table.add_column(column)
    for h in hosts:
        table.add_row(
            h["host"],
            h.get("service") or "",
            h["state"],
            h.get("step") or "",
            h.get("verdict") or "",
            h.get("message") or "",
        )
    console.out.print(table)
    console.out.print(f"journal head {head}")


def status_command(
    run_id: str | None = typer.Option(None, "--run", help="Default: the latest run."),
    output_format: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Host states of a run, from the journal."""
    from restore.engine_replay import replay

    journal = _open_journal(state_dir)
    rid = _resolve_run(journal, run_id)
    record = journal.run(rid)
    assert record is not None
    hosts = [
        {
            "host": h.host,
            "service": h.service,
            "state": h.state,
            "step": h.current_step,
            "verdict": h.verdict,
        }
        for h in replay(journal.events(rid)).values()
    ]
    head = journal.head_hash()
    if output_format is OutputFormat.JSON:
        console.emit_json({"run_id": rid, "state": record.state, "hosts": hosts, "head_hash": head})
    else:
        _print_hosts(rid, record.state, hosts, head)


def approve_command(
    host: str = typer.Argument(
        ..., help="The host waiting at an approve step.", autocompletion=complete_host
    ),
    by: str = typer.Option(..., "--by", help="Who approves (journaled)."),
    reason: str = typer.Option("", "--reason", help="Why (journaled)."),
    run_id: str | None = typer.Option(None, "--run", help="Default: the latest run."),
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Release a host's approve gate (works from a second terminal while the run goes on)."""
    journal = _open_journal(state_dir)
    rid = _resolve_run(journal, run_id)
    step = _known_host(journal, rid, host)
    event = journal.append(
        rid, "approved", host=host, step=step, detail={"by": by, "reason": reason or None}
    )
    console.info(f"approved {host} in run {rid} (journal row {event.seq})")


def _known_host(journal: Journal, run_id: str, host: str) -> str | None:
    from restore.engine_replay import replay

    hosts = replay(journal.events(run_id))
    if host not in hosts:
        from restore.graph import did_you_mean

        raise InputError(
            f"host '{host}' is not in run {run_id}",
            hint=did_you_mean(host, list(hosts)) or "see `restore status`",
        )
    return hosts[host].current_step


def _decision(kind: str) -> Any:
    def command(
        host: str = typer.Argument(..., help="Host name.", autocompletion=complete_host),
        step: str = typer.Argument(
            ...,
            help="Step number (see `restore status`), its full name, or 'host' (skip only).",
            autocompletion=complete_step,
        ),
        by: str = typer.Option(..., "--by", help="Who decides (journaled)."),
        reason: str = typer.Option(..., "--reason", help="Why (journaled)."),
        run_id: str | None = typer.Option(None, "--run", help="Default: the latest run."),
        state_dir: Path = STATE_DIR_OPTION,
    ) -> None:
        journal = _open_journal(state_dir)
        rid = _resolve_run(journal, run_id)
        _known_host(journal, rid, host)
        key = None if (kind == "skip" and step == "host") else _step_key(journal, rid, host, step)
        event = journal.append(
            rid, _OPERATOR_EVENT[kind], host=host, step=key, detail={"by": by, "reason": reason}
        )
        target = key or "the whole host"
        console.info(f"{kind}: {host} {target} in run {rid} (journal row {event.seq})")
        if kind != "skip":
            console.info("continue the run with `restore run GRAPH -i INV --resume`")

    command.__doc__ = {
        "mark-done": "Record that an operator completed a step by hand (it will not run again).",
        "retry": "Allow a started, non-idempotent step to run again on --resume.",
        "skip": "Waive a step (or 'host': the whole host), with name and reason.",
    }[kind]
    return command


def _step_key(journal: Journal, run_id: str, host: str, step: str) -> str:
    """Accept '4', '4:check' or a unique label; return the journal's step key.

    The keys come from the run's own `run_started` row (restore.run_snapshot), never from the
    graph file: a decision is taken from any folder, whatever became of that file."""
    from restore.run_snapshot import snapshot

    events = journal.events(run_id)
    snap = snapshot(events)
    keys = list(snap.step_keys.get(host, ())) if snap is not None else []
    if not keys:  # a journal from before the plan was kept in it: the keys it has seen
        keys = list(dict.fromkeys(e.step for e in events if e.host == host and e.step))
    if not keys:
        raise InputError(f"host '{host}' has no steps in run {run_id}")
    matches = [k for k in keys if step in (k, k.split(":", 1)[0], k.split(":", 1)[1])]
    if len(matches) != 1:
        raise InputError(
            f"step '{step}' of {host} is {'ambiguous' if matches else 'unknown'}",
            hint="one of: " + ", ".join(keys),
        )
    return matches[0]


def journal_verify(
    run_id: str | None = typer.Option(
        None, "--run", help="Report this run's rows (the chain is global)."
    ),
    output_format: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Check the hash chain and the head file; exit 1 if anything was edited, dropped or cut."""
    journal = _open_journal(state_dir)
    if run_id is not None:
        _resolve_run(journal, run_id)
    result = journal.verify()
    if output_format is OutputFormat.JSON:
        console.emit_json(result.to_json())
    else:
        for note in result.notes:
            console.info(f"note: {note}")
        for item in result.breaks:
            console.error(f"row {item.seq}: {item.kind}: {item.message}")
        verdict = "intact" if result.ok else "BROKEN"
        console.out.print(f"journal {verdict}: {result.events} event(s), head {result.head_hash}")
    raise typer.Exit(EXIT_OK if result.ok else EXIT_OPERATIONAL)


def journal_export(
    run_id: str | None = typer.Option(None, "--run", help="Default: every run."),
    output_format: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Every event, with its hashes for independent checking (`--format json`:
    {"events": [...], "head_hash": ...} on stdout)."""
    journal = _open_journal(state_dir)
    if run_id is not None:
        _resolve_run(journal, run_id)
    events = journal.events(run_id)
    if output_format is OutputFormat.JSON:
        console.emit_json(
            {"events": [e.to_json() for e in events], "head_hash": journal.head_hash()}
        )
        return
    from rich.table import Table

    table = Table(title=f"Journal of {state_dir} (head {journal.head_hash()[:16]}...)")
    for column in ("seq", "time", "host", "step", "event", "hash"):
        table.add_column(column)
    for e in events:
        table.add_row(str(e.seq), e.ts, e.host or "", e.step or "", e.event, e.hash[:12])
    console.out.print(table)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("status")(status_command)
    app.command("approve")(approve_command)
    for kind in ("mark-done", "retry", "skip"):
        app.command(kind)(_decision(kind))
    journal_app = typer.Typer(help="The hash-chained journal.", no_args_is_help=True)
    journal_app.command("verify")(journal_verify)
    journal_app.command("export")(journal_export)
    app.add_typer(journal_app, name="journal")
