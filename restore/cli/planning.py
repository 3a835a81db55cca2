"""`restore validate` and `restore plan`: read-only, never touch the network."""

from __future__ import annotations

import contextlib
import enum
import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import typer

from restore.cli import console
from restore.cli.options import (
    ASK_VAULT_PASS_OPTION,
    FORMAT_OPTION,
    INVENTORIES_OPTION,
    STATE_DIR_OPTION,
    VAULT_PASSWORD_FILE_OPTION,
    OutputFormat,
)
from restore.cli.plan_table import print_plan
from restore.errors import EXIT_OPERATIONAL, InputError
from restore.inputs.fingerprint import Staleness, staleness
from restore.planning.cache import cached_plan
from restore.planning.explain import RtoClock, explained_json, rto_risks
from restore.planning.model import RestorePlan
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


ONLY_OPTION = typer.Option(None, "--only", help="Plan one service and everything it needs.")
MAX_PARALLEL_OPTION = typer.Option(
    "1",
    "--max-parallel",
    help="Hosts restored at once. Several values (1,2,4) compare 'what if we had "
    "more hands' side by side; the first is the one the '#' column follows.",
)
PLAN_FORMAT_OPTION = typer.Option(
    PlanFormat.TABLE,
    "--format",
    help="table (people), json (scripts), dot/mermaid (diagrams), markdown or html "
    "(the printable paper runbook, for when the IT systems are down).",
    case_sensitive=False,
)
CHECK_RTO_OPTION = typer.Option(
    False,
    "--check-rto",
    help="Exit 1 when any service is projected to miss its RTO (at any --max-parallel "
    "given), for CI; the plan is printed as usual.",
)
FROM_INCIDENT_OPTION = typer.Option(
    False,
    "--from-incident",
    help="Count RTOs from the graph's incident.declared_at, adding the time already "
    "spent since then (as if the run started now). Default: from the run's start.",
)


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


def plan(
    graph_file: Path = GRAPH_ARGUMENT,
    inventory: list[Path] = INVENTORIES_OPTION,
    vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
    ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
    only: str | None = ONLY_OPTION,
    max_parallel: str = MAX_PARALLEL_OPTION,
    output: PlanFormat = PLAN_FORMAT_OPTION,
    check_rto: bool = CHECK_RTO_OPTION,
    from_incident: bool = FROM_INCIDENT_OPTION,
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
    _emit_plan(result, clock, stale, output)
    if check_rto:
        _fail_on_rto_risk(result, clock, output)


def _emit_plan(result: RestorePlan, clock: RtoClock, stale: Staleness, output: PlanFormat) -> None:
    """The plan on standard output in the format asked for."""
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
        print_plan(result, clock)


def _fail_on_rto_risk(result: RestorePlan, clock: RtoClock, output: PlanFormat) -> None:
    """`--check-rto`: exit 1 when a service misses its RTO at any --max-parallel given."""
    risks = [r for sim in result.simulations for r in rto_risks(result, sim, clock.already_spent_s)]
    if not risks:
        return
    if output is not PlanFormat.JSON:
        console.info(
            f"--check-rto: {len({r.id for r in risks})} service(s) projected to miss their RTO"
        )
    raise typer.Exit(EXIT_OPERATIONAL)


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(plan)


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
