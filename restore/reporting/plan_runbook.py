"""Text renderings of a RestorePlan: Graphviz dot, Mermaid, and the printable Markdown runbook.

Pure functions from plan to string; the rich table lives in the CLI, which alone imports rich.
The Markdown runbook is meant to be printed before the IT systems go down and used on paper:
order, steps, checks to do by hand and blanks for sign-off.
"""

from __future__ import annotations

from restore.inputs.durations import format_duration
from restore.inputs.step_kinds import kind_of
from restore.models import StepSpec
from restore.planning.explain import RtoClock, rto_risks, start_order, why
from restore.planning.model import PlannedHost, PlannedService, RestorePlan, step_estimate
from restore.planning.scheduling import Simulation
from restore.reporting import markdown_text as md


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(plan: RestorePlan) -> str:
    lines = [f"digraph {_quote(plan.graph.name)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for svc in plan.services:
        label = (
            f"{svc.id}\\nP{svc.priority} (eff. {svc.effective_priority})\\n{len(svc.hosts)} host(s)"
        )
        style = ', style="bold"' if svc.id in plan.critical_path else ""
        lines.append(f"  {_quote(svc.id)} [label={_quote(label)}{style}];")
    for svc in plan.services:
        for dep in svc.depends_on:
            lines.append(f"  {_quote(dep)} -> {_quote(svc.id)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_id(service_id: str) -> str:
    return "s_" + service_id.replace("-", "_")


def to_mermaid(plan: RestorePlan) -> str:
    lines = ["flowchart LR"]
    for svc in plan.services:
        label = f"{svc.id}<br/>P{svc.priority} eff. {svc.effective_priority}"
        lines.append(f'  {_mermaid_id(svc.id)}["{label}"]')
    for svc in plan.services:
        for dep in svc.depends_on:
            lines.append(f"  {_mermaid_id(dep)} --> {_mermaid_id(svc.id)}")
    if plan.critical_path:
        lines.append("  classDef critical stroke-width:3px;")
        lines.append(
            "  class " + ",".join(_mermaid_id(s) for s in plan.critical_path) + " critical;"
        )
    return "\n".join(lines) + "\n"


def _step_line(step: StepSpec) -> str:
    return f"{md.text(step.label)} (~{format_duration(step_estimate(step))})"


def _timeline_table(sim: Simulation) -> list[str]:
    rows = [
        f"Projected with {sim.max_parallel} host(s) at once: all services back after "
        f"{format_duration(sim.makespan_s)} (lower bound {format_duration(sim.lower_bound_s)}); "
        f"priority-1 services back after {format_duration(sim.priority1_restored_s)}.",
        "",
        "| Service | Back after | Lower bound |",
        "|---|---|---|",
    ]
    for entry in sim.services:
        rows.append(
            md.row(
                md.text(entry.id),
                format_duration(entry.restored_s),
                format_duration(entry.lower_bound_s),
            )
        )
    return rows


def _rto_at_risk_lines(plan: RestorePlan, sim: Simulation, clock: RtoClock) -> list[str]:
    risks = rto_risks(plan, sim, clock.already_spent_s)
    title = f"## RTO at risk with {sim.max_parallel} host(s) at once"
    if not risks:
        return ["", title, "", "None: every RTO is met in this projection."]
    return ["", title, "", *(f"- **AT RISK** {md.text(risk.sentence())}" for risk in risks)]


def to_markdown(plan: RestorePlan, clock: RtoClock | None = None) -> str:
    """The paper runbook: printable, with blanks for sign-off. Rows and sections follow the
    start order of the first simulation: what the run will do, in that order.

    Names and labels from the graph and inventory go through the escaped Markdown writer
    (restore.reporting.markdown_text): the runbook is also rendered as HTML."""
    clock = clock or RtoClock("run_start")
    first = plan.simulations[0]
    by_id = {svc.id: svc for svc in plan.services}
    ordered = [by_id[sid] for sid in start_order(plan, first)]
    out = _runbook_head(plan, first, ordered, clock)
    out += _order_table(plan, first, ordered, clock)
    for sim in plan.simulations:
        out += ["", "## Projected timeline", "", *_timeline_table(sim)]
        if any(s.rto_s is not None for s in plan.services):
            out += _rto_at_risk_lines(plan, sim, clock)
    out += ["", "## Per service", ""]
    hosts_by_service: dict[str, list[PlannedHost]] = {}  # no plan.host() per host: quadratic
    for host in plan.hosts:
        hosts_by_service.setdefault(host.service, []).append(host)
    for index, svc in enumerate(ordered, 1):
        out += _service_section(index, svc, hosts_by_service.get(svc.id, []))
    return "\n".join(out) + "\n"


def _runbook_head(
    plan: RestorePlan, first: Simulation, ordered: list[PlannedService], clock: RtoClock
) -> list[str]:
    t = md.text
    return [
        f"# Recovery runbook — {t(plan.graph.name)}",
        "",
        f"Graph: {md.code(plan.graph.path)}. Start order with {first.max_parallel} host(s) at "
        "once (what the run follows): " + " → ".join(t(s.id) for s in ordered) + ".",
        "",
        "Priority order (most urgent first; ties in the graph file's order): "
        + " → ".join(map(t, plan.order))
        + ".",
        "",
        *([f"Note: {t(note)}", ""] if (note := clock.note()) else []),
        f"Critical path: {' → '.join(map(t, plan.critical_path))}. Estimated duration: "
        f"{format_duration(plan.estimated_duration_s)}.",
        "",
        "Rule: no host rejoins the production network before its last integrity check is",
        "clean. Keep every piece of evidence; delete nothing on a compromised host.",
        "",
    ]


def _order_table(
    plan: RestorePlan, first: Simulation, ordered: list[PlannedService], clock: RtoClock
) -> list[str]:
    """The services in start order: why each is there, its wave, when it is back."""
    t = md.text
    reasons = why(plan, first)
    back = {s.id: s.restored_s for s in first.services}
    late = {r.id for r in rto_risks(plan, first, clock.already_spent_s)}
    out = [
        "## Order and waves",
        "",
        "| # | Service | Priority | Effective | Why here | Needs | Wave | Hosts | "
        + ("Back (since incident)" if clock.counted_from == "incident" else "Back after")
        + " | RTO |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, svc in enumerate(ordered, 1):
        rto = format_duration(svc.rto_s) if svc.rto_s else "—"
        out.append(
            md.row(
                index,
                f"{t(svc.id)} — {t(svc.name)}",
                svc.priority,
                svc.effective_priority,
                t(reasons[svc.id]),
                ", ".join(map(t, svc.depends_on)) or "—",
                svc.wave,
                ", ".join(map(t, svc.hosts)),
                format_duration(clock.already_spent_s + back[svc.id]),
                rto + (" **AT RISK**" if svc.id in late else ""),
            )
        )
    return out


def _service_section(index: int, svc: PlannedService, hosts: list[PlannedHost]) -> list[str]:
    """One service's page: what it waits for, each host's steps to tick, the sign-off."""
    t = md.text
    needs = ", ".join(map(t, svc.depends_on)) or "nothing"
    out = [
        f"### {index}. {t(svc.name)} ({md.code(svc.id)})",
        "",
        f"Priority {svc.priority}"
        + (
            f", urgent as {t(svc.inherited_from)} ({svc.effective_priority})"
            if svc.inherited_from
            else ""
        )
        + (f"; RTO {format_duration(svc.rto_s)}" if svc.rto_s else "")
        + f"; start only when these are back: {needs}.",
        "",
    ]
    for host in hosts:
        node = host.bound.execution_node
        out += [
            f"#### Host {md.code(host.name)} ({t(host.platform)})",
            "",
            *([f"Ansible steps run on execution node {md.code(node)}.", ""] if node else []),
            "| # | Step | Check by hand | Done (time) | Initials |",
            "|---|---|---|---|---|",
        ]
        for number, step in enumerate(host.steps, 1):
            out.append(f"| {number} | {_step_line(step)} | {kind_of(step.type).manual_check} | | |")
        out.append("")
    return [
        *out,
        "Service back on: ____/____ at ____:____   Verified by: ______________________",
        "",
        "Business owner sign-off: ______________________",
        "",
    ]
