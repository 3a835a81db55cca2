"""`restore validate` and `restore plan`: read-only, never touch the network."""

from __future__ import annotations

import contextlib
import enum
import gc
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.table import Table

from restore.cli import console
from restore.cli.options import (
    ASK_VAULT_PASS_OPTION,
    FORMAT_OPTION,
    INVENTORY_OPTION,
    STATE_DIR_OPTION,
    VAULT_PASSWORD_FILE_OPTION,
    OutputFormat,
)
from restore.durations import format_duration
from restore.errors import InputError
from restore.fingerprint import Staleness, staleness
from restore.html_page import markdown_to_html, page
from restore.plan_cache import cached_plan
from restore.plan_model import RestorePlan
from restore.plan_render import to_dot, to_markdown, to_mermaid
from restore.schedule import Simulation
from restore.state_dir import user_cache_dir


class PlanFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    DOT = "dot"
    MERMAID = "mermaid"
    MARKDOWN = "markdown"
    HTML = "html"


GRAPH_ARGUMENT = typer.Argument(..., help="Dependency graph file (YAML, version 1).")


def parse_parallelism(text: str) -> list[int]:
    """`--max-parallel 1,2,4` -> [1, 2, 4]."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise InputError(
            f"--max-parallel {text!r} is not a list of whole numbers >= 1",
            hint="e.g. --max-parallel 2 or --max-parallel 1,2,4,8",
        )
    return values


@contextlib.contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Building a plan allocates millions of objects that all stay alive (ansible-core's
    inventory, the validated graph, the schedule), so every collection walks them all for
    nothing: at 10,000 hosts that was a third of the graph's validation and a quarter of the
    inventory load. Plans are built once per short command; a long run collects as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_plan(
    graph_file: Path,
    inventory: Path,
    state_dir: Path,
    *,
    only: str | None = None,
    max_parallel: list[int] | None = None,
) -> RestorePlan:
    parallelism = max_parallel or [1]
    cache_dir = user_cache_dir()

    def compute() -> RestorePlan:
        # Imported here: pydantic, networkx and ansible-core are not needed for a cached plan.
        from restore.inventory_background import start_loading_inventory

        with _cycle_collection_paused():
            # The inventory loads in a child while the graph is validated here (two cores);
            # the graph's own imports come after the fork, so that they overlap too.
            inventory_load = start_loading_inventory(inventory, cache_dir)
            try:
                from restore.graph import load_graph
                from restore.plan import build_plan

                graph = load_graph(graph_file)
            except BaseException:
                # The graph's error is the one to show, as when loading one after the other,
                # and the inventory is of no use: its child is ended, not waited for.
                inventory_load.cancel()
                raise
            return build_plan(graph, inventory_load.result(), only=only, max_parallel=parallelism)

    return cached_plan(cache_dir, graph_file, inventory, only, parallelism, compute)


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        graph_file: Path = GRAPH_ARGUMENT,
        inventory: Path = INVENTORY_OPTION,
        vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
        ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
        output: OutputFormat = FORMAT_OPTION,
        state_dir: Path = STATE_DIR_OPTION,
    ) -> None:
        """Check a graph and its inventory without touching any host.

        Refuses (exit 2) unknown keys, missing ids, duplicate ids, unknown dependencies,
        cycles, unknown hosts or groups, a host in two services, unknown step types,
        missing playbooks and bad durations, naming the file, service, key and line.
        """
        plan = load_plan(graph_file, inventory, state_dir)
        if output is OutputFormat.JSON:
            console.emit_json(
                {
                    "valid": True,
                    "graph": str(graph_file),
                    "services": len(plan.services),
                    "hosts": len(plan.hosts),
                }
            )
        else:
            console.out.print(
                console.line(
                    ("valid", "green"),
                    f": {graph_file} — {len(plan.services)} services, "
                    f"{len(plan.hosts)} hosts, order {' → '.join(plan.order)}",
                )
            )

    @app.command()
    def plan(
        graph_file: Path = GRAPH_ARGUMENT,
        inventory: Path = INVENTORY_OPTION,
        vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
        ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
        only: str | None = typer.Option(
            None, "--only", help="Plan one service and everything it needs."
        ),
        max_parallel: str = typer.Option(
            "1",
            "--max-parallel",
            help="Hosts restored at once. Several values (1,2,4) compare 'what if we had "
            "more hands' side by side.",
        ),
        output: PlanFormat = typer.Option(
            PlanFormat.TABLE,
            "--format",
            help="table (people), json (scripts), dot/mermaid (diagrams), markdown or html "
            "(the printable paper runbook, for when the IT systems are down).",
            case_sensitive=False,
        ),
        state_dir: Path = STATE_DIR_OPTION,
    ) -> None:
        """Show the restore order, waves, critical path and a simulated timeline.

        The order is the contract: a service is as urgent as the most urgent service that
        needs it; ties break on own priority, then id. Never touches the network.
        """
        result = load_plan(
            graph_file,
            inventory,
            state_dir,
            only=only,
            max_parallel=parse_parallelism(max_parallel),
        )
        stale = staleness(state_dir, result.graph, inventory)
        _warn_if_stale(stale)
        if output is PlanFormat.JSON:
            data = result.to_json()
            data["rehearsal"] = {
                "rehearsed_at": stale.rehearsed_at,
                "needs_reverification": stale.needs_reverification,
                "changed": list(stale.changed + stale.added + stale.removed),
            }
            console.emit_json(data)
        elif output is PlanFormat.DOT:
            typer.echo(to_dot(result), nl=False)
        elif output is PlanFormat.MERMAID:
            typer.echo(to_mermaid(result), nl=False)
        elif output is PlanFormat.MARKDOWN:
            typer.echo(to_markdown(result), nl=False)
        elif output is PlanFormat.HTML:
            runbook = markdown_to_html(to_markdown(result))
            typer.echo(page(f"Recovery runbook — {result.graph.name}", runbook), nl=False)
        else:
            _print_plan(result)


def _warn_if_stale(stale: Staleness) -> None:
    if stale.rehearsed_at is None:
        console.info("note: this plan has never been rehearsed (restore rehearse --lab)")
        return
    for label, files in (("changed", stale.changed), ("new", stale.added), ("gone", stale.removed)):
        for file in files:
            console.warn(
                f"needs re-verification: {file} {label} since the last successful rehearsal "
                f"({stale.rehearsed_at})"
            )


def _print_plan(plan: RestorePlan) -> None:
    table = Table(title=f"Restore plan — {plan.graph.name}", title_justify="left")
    for column in (
        "#",
        "service",
        "prio",
        "eff.",
        "urgency from",
        "needs",
        "wave",
        "hosts",
        "time",
    ):
        table.add_column(column, overflow="fold")
    for index, svc in enumerate(plan.services, 1):
        mark = "bold" if svc.id in plan.critical_path else ""
        table.add_row(
            str(index),
            console.styled(svc.id, mark),
            str(svc.priority),
            str(svc.effective_priority),
            svc.inherited_from or "",
            ", ".join(svc.depends_on),
            str(svc.wave),
            ", ".join(svc.hosts),
            format_duration(svc.duration_s),
        )
    console.out.print(table)
    by_node: dict[str, list[str]] = {}
    for host in plan.hosts:
        if host.bound.execution_node:
            by_node.setdefault(host.bound.execution_node, []).append(host.name)
    for node, names in by_node.items():
        console.out.print(
            console.line(
                "execution node ", (node, "bold"), f" runs the Ansible steps of {', '.join(names)}"
            )
        )
    console.out.print(
        console.line(
            "critical path: ",
            (" → ".join(plan.critical_path), "bold"),
            "   estimated duration: ",
            (format_duration(plan.estimated_duration_s), "bold"),
        )
    )
    for sim in plan.simulations:
        _print_gantt(plan, sim)


def _print_gantt(plan: RestorePlan, sim: Simulation, width: int = 48) -> None:
    """A terminal Gantt of services over simulated time: when each comes back."""
    horizon = max(sim.makespan_s, 1.0)
    spans: dict[str, tuple[float, float]] = {}
    for entry in sim.timeline:
        start, end = spans.get(entry.service, (entry.start_s, entry.end_s))
        spans[entry.service] = (min(start, entry.start_s), max(end, entry.end_s))
    table = Table(
        title=(
            f"Simulated timeline, {sim.max_parallel} host(s) at once: all back after "
            f"{format_duration(sim.makespan_s)} "
            f"(lower bound {format_duration(sim.lower_bound_s)}); "
            f"priority 1 back after {format_duration(sim.priority1_restored_s)} "
            f"(lower bound {format_duration(sim.priority1_lower_bound_s)})"
        ),
        title_justify="left",
    )
    table.add_column("service")
    table.add_column("back after", justify="right")
    table.add_column("timeline", no_wrap=True, min_width=width)
    for svc in plan.services:
        start, end = spans.get(svc.id, (0.0, 0.0))
        left = min(int(start / horizon * width), width - 1)
        length = max(1, round((end - start) / horizon * width))
        bar = " " * left + "█" * min(length, width - left)
        table.add_row(console.styled(svc.id), format_duration(end), console.styled(bar, "cyan"))
    console.out.print(table)
