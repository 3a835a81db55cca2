"""`restore rehearse`: the whole plan against lab VMs, or against built-in lab twins."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from restore.cli import console
from restore.cli.options import (
    ASK_VAULT_PASS_OPTION,
    INVENTORIES_OPTION,
    STATE_DIR_OPTION,
    VAULT_PASSWORD_FILE_OPTION,
)
from restore.errors import InputError

if TYPE_CHECKING:  # the rehearsal loads only when the command runs
    from restore.rehearsal.rehearse import RehearsalResult


GRAPH_ARGUMENT = typer.Argument(..., help="Dependency graph file (YAML, version 1).")
LAB_OPTION = typer.Option(
    False,
    "--lab",
    help="Rehearse on built-in lab twins of the inventory's hosts (needs root); "
    "without it, INV must be an inventory of lab VMs.",
)
SCENARIO_OPTION = typer.Option(
    "default",
    "--scenario",
    help="default (the first rebuildable host of each service is infected), clean, "
    "all-rebuilt, or dwell (as default, and the last backup before the incident already "
    "holds the attack: the backup scan must pick an older one).",
)
JUNIT_OPTION = typer.Option(
    None, "--junit", help="Write a JUnit file: one test case per host and step."
)
MAX_PARALLEL_OPTION = typer.Option(4, "--max-parallel", min=1, help="Hosts at once.")
KEEP_LAB_OPTION = typer.Option(False, "--keep-lab", help="Leave the lab up afterwards.")
SEED_OPTION = typer.Option(
    [],
    "--seed",
    help="Playbook run on the rehearsal's hosts before the simulated attack, e.g. to "
    "fill the lab's backup repository (repeatable), after the graph's own "
    "`rehearsal.seed`. Gets restore_incident_start.",
)


def rehearse(
    graph_file: Path = GRAPH_ARGUMENT,
    inventory: list[Path] = INVENTORIES_OPTION,
    vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
    ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
    lab: bool = LAB_OPTION,
    scenario: str = SCENARIO_OPTION,
    junit: Path | None = JUNIT_OPTION,
    max_parallel: int = MAX_PARALLEL_OPTION,
    keep_lab: bool = KEEP_LAB_OPTION,
    seed: list[Path] = SEED_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Run the whole plan as a rehearsal and write the report.

    Holds the state dir's run lock like `restore run` (a second run there is refused);
    SIGTERM and SIGHUP stop it like Ctrl-C. Exit 0 when the rehearsal met the plan (every
    host reconnected), 1 otherwise. A successful rehearsal is remembered: `restore plan`
    then warns when the graph, the inventory or a playbook changes ("needs
    re-verification").
    """
    from restore.cli.live_view import LiveProgress
    from restore.cli.stopping import stop_on_signals
    from restore.execution.runlock import RunLock
    from restore.rehearsal.rehearse import rehearse as run_rehearsal

    _prepare(scenario, lab)
    with RunLock(state_dir, "rehearse") as lock, stop_on_signals():
        progress = LiveProgress(state_dir=state_dir, on_run=lock.set_run_id)
        try:
            result = run_rehearsal(
                graph_file,
                inventory,
                state_dir,
                lab=lab,
                scenario=scenario,
                max_parallel=max_parallel,
                junit=junit,
                keep_lab=keep_lab,
                seeds=tuple(seed),
                processor=progress,
                say=console.info,
            )
        finally:
            progress.stop()
    _tell(result)
    raise typer.Exit(0 if result.met_plan else 1)


def _prepare(scenario: str, lab: bool) -> None:
    """Refuse an unknown scenario, build a missing golden image, register the lab's providers."""
    from restore.rehearsal.infection_mix import SCENARIOS

    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario '{scenario}'", hint=f"one of {', '.join(SCENARIOS)}")
    if lab:  # the golden image first, with a spinner, when it is missing
        from restore.cli.lab import golden_image

        golden_image(rebuild=False)
    # One run per state dir (the rehearsal's run, and its lab, live there too).
    from restore.lab.providers import register as register_lab_providers

    register_lab_providers()  # lab twins are reimaged and isolated through the lab


def _tell(result: RehearsalResult) -> None:
    """The verdict, timings and where the report is; the HTML report's path on stdout."""
    timings = ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in result.timings_s.items())
    verdict = "met the plan" if result.met_plan else f"did NOT meet the plan ({result.run.state})"
    console.info(f"rehearsal {result.run.run_id} {verdict}; {timings}")
    _reveal(result.infected)
    console.info(f"journal head hash {result.run.head_hash}")
    if result.junit:
        console.info(f"JUnit: {result.junit}")
    console.info(f"report (markdown): {result.report_md}")
    typer.echo(str(result.report_html))


def _reveal(infected: dict[str, str]) -> None:
    """The hidden directory attacks, told once the run is over (the journal has them too)."""
    from restore.rehearsal.infection_mix import scenario_parts

    for host, infection in infected.items():
        hidden = scenario_parts(infection)[1:]
        if hidden:
            console.info(f"the hidden directory attacks on {host} were: {', '.join(hidden)}")


def register(app: typer.Typer) -> None:
    app.command()(rehearse)
