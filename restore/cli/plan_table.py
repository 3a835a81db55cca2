"""`restore plan`'s table view: the start order with its reasons, RTO risks and a terminal Gantt."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from restore.cli import console
from restore.inputs.durations import format_duration
from restore.planning.explain import RtoClock, RtoRisk, rto_risks, start_order, why
from restore.planning.model import RestorePlan
from restore.planning.scheduling import Simulation


def print_plan(plan: RestorePlan, clock: RtoClock) -> None:
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
    _print_plan_summary(plan, clock)
    for sim in plan.simulations:
        _print_rto_risks(plan, sim, clock)
    for sim in plan.simulations:
        _print_gantt(plan, sim)


def _print_plan_summary(plan: RestorePlan, clock: RtoClock) -> None:
    """Execution nodes, priority order, critical path and the RTO clock's note."""
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
