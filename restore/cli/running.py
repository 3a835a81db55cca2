"""`restore run`, `status` and `journal verify|export` (operator decisions: cli/deciding.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from restore.cli import console
from restore.cli.live_view import LiveProgress
from restore.cli.options import (
    ASK_VAULT_PASS_OPTION,
    FORMAT_OPTION,
    INVENTORIES_OPTION,
    STATE_DIR_OPTION,
    VAULT_PASSWORD_FILE_OPTION,
    OutputFormat,
)
from restore.errors import EXIT_OK, EXIT_OPERATIONAL, InputError
from restore.execution.journal import Journal, NoJournal, journal_exists

if TYPE_CHECKING:
    from restore.execution.engine import RunOptions, RunResult
    from restore.models import GraphSpec


def _open_journal(state_dir: Path) -> Journal:
    """For read commands: read-only, and exit 2 when there is no journal (nothing created)."""
    return Journal(state_dir, read_only=True)


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


_DRY_RUN_OPTION = typer.Option(
    False,
    "--dry-run",
    help="Walk the whole plan touching no host: each step says what it would do, and "
    "the summary lists the gates (approvals, reconnect-needs-clean...) a real run stops at.",
)
_WINRM_INSECURE_OPTION = typer.Option(
    False, "--winrm-insecure", help="Do not validate WinRM HTTPS certificates (lab only)."
)


def run_command(
    graph: Path = typer.Argument(..., help="The dependency graph (YAML, version 1)."),
    inventory: list[Path] = INVENTORIES_OPTION,
    vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
    ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
    dry_run: bool = _DRY_RUN_OPTION,
    max_parallel: int = typer.Option(1, "--max-parallel", min=1, help="Hosts at once, in all."),
    yes: bool = typer.Option(False, "--yes", help="Approve every approval gate (rehearsals)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the latest (or --run) run."),
    run_id: str | None = typer.Option(None, "--run", help="The run to resume."),
    winrm_insecure: bool = _WINRM_INSECURE_OPTION,
    output_format: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Execute the plan: quarantine, evidence, check, rebuild, verify, reconnect, host by host.

    One run per state dir: the run holds an exclusive lock on DIR/run.lock for its whole
    life, and a second `run`, `run --resume` or `rehearse` there is refused (exit 2).
    Ctrl-C, SIGTERM and SIGHUP stop it cleanly (journaled, exit 130); continue with --resume,
    with the same inventories (-i) in the same order.
    """
    from restore.execution.engine import RunOptions
    from restore.inputs.graph import load_graph

    spec = load_graph(graph)
    if resume and not journal_exists(state_dir):
        raise NoJournal(state_dir)  # before the lock: a typo creates nothing
    options = RunOptions(
        dry_run=dry_run,
        max_parallel=max_parallel,
        assume_yes=yes,
        resume=resume,
        winrm_insecure=winrm_insecure,
        run_id=run_id,
    )
    quiet = output_format is OutputFormat.JSON and not sys.stderr.isatty()
    result = _execute(spec, inventory, options, state_dir, quiet=quiet)
    if output_format is OutputFormat.JSON:
        console.emit_json(result.to_json())
    else:
        _print_hosts(result.run_id, result.state, result.to_json()["hosts"], result.head_hash)
        if result.dry_run:
            _print_gates(result.gates)
    raise typer.Exit(result.exit_code)


def _execute(
    spec: GraphSpec, inventory: list[Path], options: RunOptions, state_dir: Path, *, quiet: bool
) -> RunResult:
    """The run itself, under the state dir's run lock (a second one is refused here, exit 2);
    the signals that end a run on the night (kill, a dropped SSH session) stop it like Ctrl-C.
    """
    from restore.ansible.prefork.service import PreforkAnsible
    from restore.cli.stopping import stop_on_signals
    from restore.execution.engine import Engine
    from restore.execution.runlock import RunLock
    from restore.inputs.inventory import load_inventory
    from restore.lab.providers import register as register_lab_providers
    from restore.planning.plan import build_plan

    # The lab's reimage and network providers claim lab hosts (restore.execution.providers):
    # the CLI wires them in; the engine never imports the lab.
    register_lab_providers()
    with RunLock(state_dir, "resume" if options.resume else "run") as lock, stop_on_signals():
        journal = Journal(state_dir)
        # Started first: it warms ansible-core up (on the other core) while the inventory loads.
        with PreforkAnsible(log_path=state_dir / "prefork.log") as prefork:
            hosts = load_inventory(inventory, with_secrets=True)
            plan = build_plan(spec, hosts, max_parallel=(options.max_parallel,))
            progress = LiveProgress(
                quiet=quiet, state_dir=state_dir, journal=journal, on_run=lock.set_run_id
            )
            # every -i goes on to each playbook job, merged by ansible-playbook as here
            engine = Engine(
                plan, hosts, inventory, journal, options, processor=progress, prefork=prefork
            )
            try:
                return engine.run()
            finally:
                progress.stop()


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
        cells = (
            h["host"],
            h.get("service") or "",
            h["state"],
            h.get("step") or "",
            h.get("verdict") or "",
            h.get("message") or "",
        )
        table.add_row(*map(console.styled, cells))
    console.out.print(table)
    console.out.print(f"journal head {head}")


def status_command(
    run_id: str | None = typer.Option(None, "--run", help="Default: the latest run."),
    output_format: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Host states of a run, from the journal; whether it is alive, from the run lock.

    A run whose journal says running but whose process is gone (killed, crashed, its
    machine rebooted) shows as `interrupted`, with the time of its last event; its hosts
    caught mid-way show `interrupted` too. Continue it with `restore run ... --resume`.
    """
    from restore.execution.operator_decisions import liveness
    from restore.execution.run_state import replay
    from restore.execution.runlock import live_holder

    journal = _open_journal(state_dir)
    rid = _resolve_run(journal, run_id)
    record = journal.run(rid)
    assert record is not None
    events = journal.events(rid)
    alive = liveness(record, events, live_holder(state_dir))
    hosts = [
        {
            "host": h.host,
            "service": h.service,
            "state": _host_state(h.state, alive.state),
            "step": h.current_step,
            "verdict": h.verdict,
        }
        for h in replay(events).values()
    ]
    head = journal.head_hash()
    if output_format is OutputFormat.JSON:
        console.emit_json(
            {
                "run_id": rid,
                "state": alive.state,
                "live": alive.live,
                "last_event_at": alive.last_event_at,
                "hosts": hosts,
                "head_hash": head,
            }
        )
    else:
        shown = alive.state
        if alive.state == "interrupted":
            shown += f" (last event {alive.last_event_at}; continue with --resume)"
        _print_hosts(rid, shown, hosts, head)


def _host_state(state: str, run_state: str) -> str:
    """A host caught mid-way by a run that is not alive ended `interrupted` (DESIGN §5)."""
    from restore.models import TERMINAL_HOST_STATES

    ended = {s.value for s in TERMINAL_HOST_STATES} | {"pending", "restored"}
    if run_state == "interrupted" and state not in ended:
        return "interrupted"
    return state


def journal_verify(
    run_id: str | None = typer.Option(
        None, "--run", help="Report this run's rows (the chain is global)."
    ),
    output_format: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Check the hash chain and the head file; exit 1 if anything was edited, dropped or cut.

    Exit 2 when DIR has no journal, or one with no event: an empty journal is never
    called intact (it proves nothing, and is what a mistyped --state-dir would show).
    """
    journal = _open_journal(state_dir)
    if run_id is not None:
        _resolve_run(journal, run_id)
    result = journal.verify()
    if result.events == 0 and result.ok:
        raise InputError(
            f"the journal in {state_dir} holds no event: there is nothing to verify",
            key="--state-dir",
        )
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
        cells = (str(e.seq), e.ts, e.host or "", e.step or "", e.event, e.hash[:12])
        table.add_row(*map(console.styled, cells))
    console.out.print(table)


def register(app: typer.Typer) -> None:
    from restore.cli import deciding

    app.command("run")(run_command)
    app.command("status")(status_command)
    deciding.register(app)  # approve, mark-done, retry, skip: here in the help's order
    journal_app = typer.Typer(help="The hash-chained journal.", no_args_is_help=True)
    journal_app.command("verify")(journal_verify)
    journal_app.command("export")(journal_export)
    app.add_typer(journal_app, name="journal")
