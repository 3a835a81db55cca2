"""`restore rehearse`: the whole plan against lab VMs, or against built-in lab twins."""

from __future__ import annotations

from pathlib import Path

import typer

from restore.cli import console
from restore.cli.options import (
    ASK_VAULT_PASS_OPTION,
    INVENTORIES_OPTION,
    STATE_DIR_OPTION,
    VAULT_PASSWORD_FILE_OPTION,
)
from restore.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command()
    def rehearse(
        graph_file: Path = typer.Argument(..., help="Dependency graph file (YAML, version 1)."),
        inventory: list[Path] = INVENTORIES_OPTION,
        vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
        ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
        lab: bool = typer.Option(
            False,
            "--lab",
            help="Rehearse on built-in lab twins of the inventory's hosts (needs root); "
            "without it, INV must be an inventory of lab VMs.",
        ),
        scenario: str = typer.Option(
            "default",
            "--scenario",
            help="default (the first rebuildable host of each service is infected), clean, "
            "all-rebuilt, or dwell (as default, and the last backup before the incident already "
            "holds the attack: the backup scan must pick an older one).",
        ),
        junit: Path | None = typer.Option(
            None, "--junit", help="Write a JUnit file: one test case per host and step."
        ),
        max_parallel: int = typer.Option(4, "--max-parallel", min=1, help="Hosts at once."),
        keep_lab: bool = typer.Option(False, "--keep-lab", help="Leave the lab up afterwards."),
        seed: list[Path] = typer.Option(
            [],
            "--seed",
            help="Playbook run on the rehearsal's hosts before the simulated attack, e.g. to "
            "fill the lab's backup repository (repeatable), after the graph's own "
            "`rehearsal.seed`. Gets restore_incident_start.",
        ),
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
        from restore.rehearsal.infection_mix import SCENARIOS
        from restore.rehearsal.rehearse import rehearse as run_rehearsal

        if scenario not in SCENARIOS:
            raise InputError(
                f"unknown scenario '{scenario}'", hint=f"one of {', '.join(SCENARIOS)}"
            )
        if lab:  # the golden image first, with a spinner, when it is missing
            from restore.cli.lab import golden_image

            golden_image(rebuild=False)
        # One run per state dir (the rehearsal's run, and its lab, live there too).
        from restore.lab.providers import register as register_lab_providers

        register_lab_providers()  # lab twins are reimaged and isolated through the lab
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
        timings = ", ".join(f"{k[:-2]} {v:.1f}s" for k, v in result.timings_s.items())
        verdict = (
            "met the plan" if result.met_plan else f"did NOT meet the plan ({result.run.state})"
        )
        console.info(f"rehearsal {result.run.run_id} {verdict}; {timings}")
        console.info(f"journal head hash {result.run.head_hash}")
        if result.junit:
            console.info(f"JUnit: {result.junit}")
        console.info(f"report (markdown): {result.report_md}")
        typer.echo(str(result.report_html))
        raise typer.Exit(0 if result.met_plan else 1)
