"""`restore validate` and `restore plan`: read-only, never touch the network."""

from __future__ import annotations

import contextlib
import enum
import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from restore.cli import console
from restore.cli.options import (
    ASK_VAULT_PASS_OPTION,
    FORMAT_OPTION,
    INVENTORIES_OPTION,
    STATE_DIR_OPTION,
    VAULT_PASSWORD_FILE_OPTION,
    OutputFormat,
)
from restore.errors import EXIT_OPERATIONAL, InputError
from restore.inputs.durations import format_duration
from restore.inputs.fingerprint import Staleness, staleness
from restore.planning.cache import cached_plan
from restore.planning.explain import RtoClock, RtoRisk, explained_json, rto_risks, start_order, why
from restore.planning.model import RestorePlan
from restore.planning.scheduling import Simulation
from restore.reporting.html_page import markdown_to_html, page
from restore.reporting.plan_runbook import to_dot, to_markdown, to_mermaid
from restore.state_dir import ensure_private, user_cache_dir


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
    inventories: list[Path],
    *,
    only: str | None = None,
    max_parallel: list[int] | None = None,
) -> RestorePlan:
    """Validate and plan. Writes nothing in the working folder: the caches live in the user's
    cache folder (restore.state_dir.user_cache_dir), whatever `--state-dir` says."""
    parallelism = max_parallel or [1]
    cache_dir = user_cache_dir()

    def compute() -> RestorePlan:
        # Imported here: pydantic, networkx and ansible-core are not needed for a cached plan.
        from restore.planning.inventory_background import start_loading_inventory

        with _cycle_collection_paused():
            # The inventory loads in a child while the graph is validated here (two cores);
            # the graph's own imports come after the fork, so that they overlap too.
            inventory_load = start_loading_inventory(inventories, cache_dir)
            try:
                from restore.inputs.graph import load_graph
                from restore.planning.plan import build_plan

                graph = load_graph(graph_file)
            except BaseException:
                # The graph's error is the one to show, as when loading one after the other,
                # and the inventory is of no use: its child is ended, not waited for.
                inventory_load.cancel()
                raise
            return build_plan(graph, inventory_load.result(), only=only, max_parallel=parallelism)

    if cache_dir is None:
        return compute()  # no safe cache folder: not cached
    ensure_private(cache_dir)
    return cached_plan(cache_dir, graph_file, inventories, only, parallelism, compute)


def rto_clock(plan: RestorePlan, from_incident: bool, now: datetime | None = None) -> RtoClock:
    """Where RTO clocks count from: the run's start, or the incident with the time already
    spent (read from the clock here, at the CLI: the plan itself stays pure and cacheable)."""
    declared = plan.graph.incident_declared_at
    if declared is None:
        if from_incident:
            raise InputError(
                "--from-incident needs the graph's incident.declared_at",
                file=str(plan.graph.path),
                key="incident",
                hint='add incident: {declared_at: "2026-11-20T01:30:00+01:00"}',
            )
        return RtoClock("run_start")
    moment = now or datetime.now(UTC)
    elapsed = (moment - declared).total_seconds()
    spent = max(elapsed, 0.0) if from_incident else 0.0
    return RtoClock(
        "incident" if from_incident else "run_start",
        already_spent_s=spent,
        declared_at=declared.isoformat(),
        elapsed_s=elapsed if elapsed >= 0 else None,
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def validate(
        graph_file: Path = GRAPH_ARGUMENT,
        inventory: list[Path] = INVENTORIES_OPTION,
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
        plan = load_plan(graph_file, inventory)
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
                    f"{len(plan.hosts)} hosts, priority order {' → '.join(plan.order)}",
                )
            )

    @app.command()
    def plan(
        graph_file: Path = GRAPH_ARGUMENT,
        inventory: list[Path] = INVENTORIES_OPTION,
        vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
        ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
        only: str | None = typer.Option(
            None, "--only", help="Plan one service and everything it needs."
        ),
        max_parallel: str = typer.Option(
            "1",
            "--max-parallel",
            help="Hosts restored at once. Several values (1,2,4) compare 'what if we had "
            "more hands' side by side; the first is the one the '#' column follows.",
        ),
        output: PlanFormat = typer.Option(
            PlanFormat.TABLE,
            "--format",
            help="table (people), json (scripts), dot/mermaid (diagrams), markdown or html "
            "(the printable paper runbook, for when the IT systems are down).",
            case_sensitive=False,
        ),
        check_rto: bool = typer.Option(
            False,
            "--check-rto",
            help="Exit 1 when any service is projected to miss its RTO (at any --max-parallel "
            "given), for CI; the plan is printed as usual.",
        ),
        from_incident: bool = typer.Option(
            False,
            "--from-incident",
            help="Count RTOs from the graph's incident.declared_at, adding the time already "
            "spent since then (as if the run started now). Default: from the run's start.",
        ),
        state_dir: Path = STATE_DIR_OPTION,
    ) -> None:
        """Show the start order, why, waves, critical path, RTO risks and a simulated timeline.

        The priority order is the contract: a service is as urgent as the most urgent service
        that needs it; ties break on own priority, then the position in the graph file. The
        '#' column is the start order the engine follows at the first --max-parallel. Never
        touches the network and writes nothing in the working folder.
        """
        result = load_plan(
            graph_file,
            inventory,
            only=only,
            max_parallel=parse_parallelism(max_parallel),
        )
        clock = rto_clock(result, from_incident)
        stale = staleness(state_dir, result.graph, inventory)
        _warn_if_stale(stale)
        if output is PlanFormat.JSON:
            data = explained_json(result, clock)
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
            typer.echo(to_markdown(result, clock), nl=False)
        elif output is PlanFormat.HTML:
            runbook = markdown_to_html(to_markdown(result, clock))
            typer.echo(page(f"Recovery runbook — {result.graph.name}", runbook), nl=False)
        else:
            _print_plan(result, clock)
        risks = [
            r for sim in result.simulations for r in rto_risks(result, sim, clock.already_spent_s)
        ]
        if check_rto and risks:
            if output is not PlanFormat.JSON:
                console.info(
                    f"--check-rto: {len({r.id for r in risks})} service(s) projected to miss "
                    "their RTO"
                )
            raise typer.Exit(EXIT_OPERATIONAL)


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


def _print_plan(plan: RestorePlan, clock: RtoClock) -> None:
    first = plan.simulations[0]
    ordered = start_order(plan, first)
    reasons = why(plan, first)
    risks = rto_risks(plan, first, clock.already_spent_s)
    late = {r.id: r for r in risks}
    back = {s.id: s.restored_s for s in first.services}
    table = Table(
        title=f"Restore plan — {plan.graph.name} (# = start order with {first.max_parallel} "
        "host(s) at once)",
        title_justify="left",
    )
    for column in ("#", "service", "prio", "eff.", "why", "needs", "wave", "hosts", "time"):
        table.add_column(column, overflow="fold")
    counted = "since incident" if clock.counted_from == "incident" else "back after"
    table.add_column(counted, justify="right")
    table.add_column("RTO", justify="right")
    by_id = {svc.id: svc for svc in plan.services}
    for index, sid in enumerate(ordered, 1):
        svc = by_id[sid]
        mark = "bold" if svc.id in plan.critical_path else ""
        risk = late.get(sid)
        table.add_row(
            str(index),
            console.styled(svc.id, mark),
            str(svc.priority),
            str(svc.effective_priority),
            console.styled(reasons[sid]),
            console.styled(", ".join(svc.depends_on)),
            str(svc.wave),
            console.styled(", ".join(svc.hosts)),
            format_duration(svc.duration_s),
            format_duration(clock.already_spent_s + back[sid]),
            _rto_cell(svc.rto_s, risk),
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
    console.out.print(console.line("priority order: ", " → ".join(plan.order)))
    console.out.print(
        console.line(
            "critical path: ",
            (" → ".join(plan.critical_path), "bold"),
            "   estimated duration: ",
            (format_duration(plan.estimated_duration_s), "bold"),
        )
    )
    note = clock.note()
    if note:
        console.out.print(Text("note: " + note, style="yellow"))
    for sim in plan.simulations:
        _print_rto_risks(plan, sim, clock)
    for sim in plan.simulations:
        _print_gantt(plan, sim)


def _rto_cell(rto_s: float | None, risk: RtoRisk | None) -> Text:
    if rto_s is None:
        return Text("")
    if risk is None:
        return Text(format_duration(rto_s), style="green")
    return Text(f"{format_duration(rto_s)} AT RISK", style="bold red")


def _print_rto_risks(plan: RestorePlan, sim: Simulation, clock: RtoClock) -> None:
    risks = rto_risks(plan, sim, clock.already_spent_s)
    if not risks:
        if any(s.rto_s is not None for s in plan.services):
            console.out.print(
                Text(f"every RTO met with {sim.max_parallel} host(s) at once", style="green")
            )
        return
    console.out.print(
        Text(
            f"RTO at risk with {sim.max_parallel} host(s) at once ({len(risks)}):",
            style="bold red",
        )
    )
    for risk in risks:
        console.out.print(Text("  " + risk.sentence(), style="red"))


def _print_gantt(plan: RestorePlan, sim: Simulation, width: int = 48) -> None:
    """A terminal Gantt of services over simulated time (rows in this K's start order)."""
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
    for sid in start_order(plan, sim):
        start, end = spans.get(sid, (0.0, 0.0))
        left = min(int(start / horizon * width), width - 1)
        length = max(1, round((end - start) / horizon * width))
        bar = " " * left + "█" * min(length, width - left)
        table.add_row(console.styled(sid), format_duration(end), console.styled(bar, "cyan"))
    console.out.print(table)
