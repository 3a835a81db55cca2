"""What a crisis cell asks of a plan: in which order things start, why, and which RTO is at risk.

Pure functions of a computed RestorePlan (nothing here is stored in the plan, so a cached plan
gives the same answers). Two orders exist and both are shown as what they are:
  - the *priority order* (`order` in the JSON, DESIGN §3): urgency, then own priority, then
    position in the graph file;
  - the *start order* (`start_order`): the order in which the engine, following the scheduler
    at a given `--max-parallel`, starts the services' hosts. It is what the "#" column, the
    runbook's sections and the live view use, because it is what will happen.

RTO: a service's projected time is when the simulation at that K has it back, counted from the
start of the run; `already_spent_s` (the time since the incident, when the caller counts from
it) is added on top. A service is at risk when that exceeds its RTO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from restore.inputs.durations import format_duration
from restore.planning.model import RestorePlan
from restore.planning.scheduling import Simulation


@dataclass(frozen=True)
class RtoRisk:
    """A service projected to come back after its RTO, and the chain that makes it late."""

    id: str
    max_parallel: int
    rto_s: float
    projected_s: float
    lower_bound_s: float  # from the run's start, unlimited hands: the dependency chain alone
    critical_path: tuple[str, ...]  # dependencies first, ending with the service itself
    already_spent_s: float = 0.0  # included in projected_s

    @property
    def late_by_s(self) -> float:
        return self.projected_s - self.rto_s

    @property
    def more_hands_help(self) -> bool:
        """False when even unlimited hosts at once could not meet the RTO."""
        return self.already_spent_s + self.lower_bound_s < self.rto_s

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "max_parallel": self.max_parallel,
            "rto_s": self.rto_s,
            "projected_s": self.projected_s,
            "late_by_s": self.late_by_s,
            "lower_bound_s": self.lower_bound_s,
            "critical_path": list(self.critical_path),
        }

    def sentence(self) -> str:
        """One line for people: how late, because of what, and whether more hands help."""
        hands = (
            f"more hosts at once could help (alone the chain takes "
            f"{format_duration(self.lower_bound_s)})"
            if self.more_hands_help
            else f"even with unlimited hosts at once the chain takes "
            f"{format_duration(self.lower_bound_s)}"
        )
        return (
            f"{self.id}: back after {format_duration(self.projected_s)} against an RTO of "
            f"{format_duration(self.rto_s)} (late by {format_duration(self.late_by_s)}); "
            f"critical path {' → '.join(self.critical_path)}; {hands}"
        )


def _first_starts(sim: Simulation) -> dict[str, tuple[float, int]]:
    """service -> (its first host's simulated start, that host's place in the start order)."""
    first: dict[str, tuple[float, int]] = {}
    for index, entry in enumerate(sim.timeline):
        first.setdefault(entry.service, (entry.start_s, index))
    return first


class _Lookups:
    """What the questions below need, computed once per (plan, simulation): every answer is
    then linear in the plan's size (a 10,000-host plan renders in milliseconds)."""

    def __init__(self, plan: RestorePlan, sim: Simulation) -> None:
        self.plan = plan
        self.position = {sid: index for index, sid in enumerate(plan.order)}
        self.services = {s.id: s for s in plan.services}
        self.restored = {s.id: s.restored_s for s in sim.services}
        self.lower_bound = {s.id: s.lower_bound_s for s in sim.services}
        self.first = _first_starts(sim)
        self.never = len(sim.timeline)

    def start_key(self, sid: str) -> tuple[float, int, int]:
        start, place = self.first.get(sid, (max(self.restored.get(sid, 0.0), 0.0), self.never))
        return (start, place, self.position[sid])

    def last_dependency(self, sid: str) -> str | None:
        """The dependency back last in the simulation (the first in priority order on a tie)."""
        deps = self.services[sid].depends_on
        if not deps:
            return None
        return max(deps, key=lambda d: (self.restored.get(d, 0.0), -self.position.get(d, 0)))


def start_order(plan: RestorePlan, sim: Simulation) -> tuple[str, ...]:
    """Services in the order the engine starts them at this K: by their first host's start,
    simultaneous starts in the scheduler's own order. A service without hosts sits where it
    is back (when what it needs is back)."""
    return tuple(sorted(plan.order, key=_Lookups(plan, sim).start_key))


def hosts_start_order(sim: Simulation) -> tuple[str, ...]:
    """Hosts in the order the engine starts them (the simulation's timeline is in that order)."""
    return tuple(entry.host for entry in sim.timeline)


def _inherited_via(plan: RestorePlan) -> dict[str, str]:
    """service -> the direct dependent its urgency comes through (the first in priority order
    among those carrying the same source), for services that inherit it. Linear in the graph."""
    source = {s.id: s.inherited_from for s in plan.services}
    via: dict[str, str] = {}
    # The source itself first, when it needs the service directly; then, in priority order,
    # the first service that carries the same source.
    carriers = [s for s in plan.services if s.inherited_from is None] + [
        s for s in plan.services if s.inherited_from is not None
    ]
    for svc in carriers:
        carries = source[svc.id] or svc.id
        for dep in svc.depends_on:
            if dep not in via and source.get(dep) is not None and source[dep] == carries:
                via[dep] = svc.id
    return via


def urgency_reasons(plan: RestorePlan) -> dict[str, str]:
    """service -> where its urgency comes from: its own priority, or the service that needs
    it ("needed by lis (priority 1) through db-pg", the first service on the way)."""
    by_id = {s.id: s for s in plan.services}
    via = _inherited_via(plan)
    reasons: dict[str, str] = {}
    for svc in plan.services:
        if svc.inherited_from is None:
            reasons[svc.id] = f"priority {svc.priority}"
            continue
        source = by_id[svc.inherited_from]
        hop = via.get(svc.id)
        through = f" through {hop}" if hop is not None and hop != source.id else ""
        reasons[svc.id] = f"needed by {source.id} (priority {source.priority}){through}"
    return reasons


def why(plan: RestorePlan, sim: Simulation) -> dict[str, str]:
    """service -> why it sits where it is in the start order: its urgency, then what it waits
    for (the dependency back last) or that it waits for a free slot."""
    look = _Lookups(plan, sim)
    urgency = urgency_reasons(plan)
    result: dict[str, str] = {}
    for svc in plan.services:
        parts = [urgency[svc.id]]
        last = look.last_dependency(svc.id)
        ready = look.restored[last] if last is not None else 0.0
        start = look.first.get(svc.id, (ready, 0))[0]
        if last is not None:
            parts.append(f"starts once {last} is back ({format_duration(ready)})")
        if start > ready:
            parts.append(f"then waits {format_duration(start - ready)} for a free slot")
        result[svc.id] = "; ".join(parts)
    return result


def simulated_path(plan: RestorePlan, sim: Simulation, service_id: str) -> tuple[str, ...]:
    """The chain of dependencies that decides when a service is back in this simulation:
    from the service, repeatedly the dependency back last. Dependencies first."""
    return _path(_Lookups(plan, sim), service_id)


def _path(look: _Lookups, service_id: str) -> tuple[str, ...]:
    path = [service_id]
    while (last := look.last_dependency(path[-1])) is not None:
        path.append(last)
    return tuple(reversed(path))


def rto_risks(plan: RestorePlan, sim: Simulation, already_spent_s: float = 0.0) -> list[RtoRisk]:
    """Services projected to miss their RTO at this K, in start order."""
    look = _Lookups(plan, sim)
    risks = []
    for sid in sorted(plan.order, key=look.start_key):
        svc = look.services[sid]
        projected = look.restored[sid]
        if svc.rto_s is None or projected < 0:
            continue
        total = already_spent_s + projected
        if total > svc.rto_s:
            risks.append(
                RtoRisk(
                    id=sid,
                    max_parallel=sim.max_parallel,
                    rto_s=svc.rto_s,
                    projected_s=total,
                    lower_bound_s=look.lower_bound[sid],
                    critical_path=_path(look, sid),
                    already_spent_s=already_spent_s,
                )
            )
    return risks


@dataclass(frozen=True)
class RtoClock:
    """Where the RTO clocks are counted from. `declared_at` (ISO) and `elapsed_s` describe the
    declared incident, if any, at planning time; `already_spent_s` is added to every projected
    time (0 when counting from the start of the run)."""

    counted_from: str  # "run_start" or "incident"
    already_spent_s: float = 0.0
    declared_at: str | None = None
    elapsed_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "counted_from": self.counted_from,
            "already_spent_s": self.already_spent_s,
            "incident_declared_at": self.declared_at,
            "incident_elapsed_s": self.elapsed_s,
        }

    def note(self) -> str | None:
        """The clearly labelled line about time already spent, or None without an incident."""
        if self.declared_at is None:
            return None
        if self.elapsed_s is None:
            return f"incident declared at {self.declared_at} (not yet reached)."
        spent = format_duration(self.elapsed_s)
        if self.counted_from == "incident":
            return (
                f"incident declared at {self.declared_at}: {spent} already spent, added to "
                "every projected time (as if the run started now)."
            )
        return (
            f"incident declared at {self.declared_at}, {spent} ago: projected times count from "
            "the start of the run and do NOT include that time; add --from-incident to count it."
        )


def explained_json(plan: RestorePlan, clock: RtoClock) -> dict[str, Any]:
    """The plan's JSON (DESIGN §4, keys unchanged) with the start order, the reasons and the
    RTO risks added."""
    data = plan.to_json()
    sims = plan.simulations
    risks = [rto_risks(plan, sim, clock.already_spent_s) for sim in sims]
    at_risk = {r.id for per_sim in risks for r in per_sim}
    if sims:
        first = sims[0]
        reasons = why(plan, first)
        position = {sid: n for n, sid in enumerate(start_order(plan, first), 1)}
        data["start_order"] = list(start_order(plan, first))
        data["hosts_start_order"] = list(hosts_start_order(first))
        for entry in data["services"]:
            entry["why"] = reasons[entry["id"]]
            entry["start_position"] = position[entry["id"]]
    for entry in data["services"]:
        entry["rto_at_risk"] = entry["id"] in at_risk
    sim_objects = (
        data["simulation"] if isinstance(data["simulation"], list) else [data["simulation"]]
    )
    for sim, obj, per_sim in zip(sims, sim_objects, risks, strict=True):
        obj["start_order"] = list(start_order(plan, sim))
        obj["hosts_start_order"] = list(hosts_start_order(sim))
        obj["rto_at_risk"] = [r.to_json() for r in per_sim]
    data["rto_at_risk"] = [r.to_json() for per_sim in risks for r in per_sim]
    data["rto_clock"] = clock.to_json()
    return data
