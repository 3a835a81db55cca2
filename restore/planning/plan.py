"""PURE planning: graph + inventory + options -> RestorePlan. No I/O of any kind.

The order contract (DESIGN §3): a service is as urgent as the most urgent service that needs
it, directly or transitively (`effective_priority`); services are then taken in
`lexicographical_topological_sort` order with key (effective_priority, priority, position in
the graph file): on a tie the service written first comes first, so the file's author decides,
not the alphabet. The timeline comes from simulating the run with the engine's own scheduler,
fed the services and hosts in that order so that its own ties follow it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx

from restore.errors import InputError
from restore.inputs.graph import did_you_mean, to_digraph
from restore.models import GraphSpec, Inventory
from restore.planning.binding import bind
from restore.planning.model import (
    BoundHost,
    PlannedHost,
    PlannedService,
    RestorePlan,
    step_estimate,
)
from restore.planning.scheduling import SchedJob, SchedService, Simulation, simulate

__all__ = [
    "PlannedHost",
    "PlannedService",
    "RestorePlan",
    "build_plan",
    "effective_priorities",
    "effective_priority_values",
    "restore_order",
    "step_estimate",
]


def _file_positions(graph: nx.DiGraph, position: dict[str, int] | None) -> dict[str, int]:
    """service -> its position in the graph file; without one, the graph's node order (the
    file order too, when the graph was built from the file)."""
    if position is not None:
        return position
    return {node: index for index, node in enumerate(graph.nodes)}


def effective_priorities(
    graph: nx.DiGraph, priority: dict[str, int], position: dict[str, int] | None = None
) -> dict[str, tuple[int, str | None]]:
    """service -> (effective priority, the dependent it is inherited from, or None).

    Processed in reverse topological order so each service looks only at its direct
    dependents' already-final values: linear in the size of the graph. When two dependents
    carry the same urgency, the one written first in the graph file is named.
    """
    pos = _file_positions(graph, position)
    result: dict[str, tuple[int, str | None]] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        best, source = priority[node], None
        for dependent in graph.successors(node):
            dep_eff, dep_source = result[dependent]
            origin = dep_source or dependent
            current = pos[source] if source is not None else len(pos)
            if (dep_eff, pos[origin]) < (best, current) and dep_eff < priority[node]:
                best, source = dep_eff, origin
        result[node] = (best, source)
    return result


def effective_priority_values(
    priority: dict[str, int], depends_on: dict[str, Sequence[str]]
) -> dict[str, int]:
    """service -> effective priority alone, for callers holding plain mappings (the scheduler's
    benches and tests): the same rule as `effective_priorities`, computed by it."""
    graph = nx.DiGraph()
    graph.add_nodes_from(priority)
    graph.add_edges_from(
        (d, sid) for sid, deps in depends_on.items() for d in deps if d in priority
    )
    return {sid: value for sid, (value, _) in effective_priorities(graph, priority).items()}


def restore_order(
    graph: nx.DiGraph,
    priority: dict[str, int],
    effective: dict[str, int],
    position: dict[str, int] | None = None,
) -> list[str]:
    """The contract order: lexicographical topological sort on (effective, priority, position
    in the graph file)."""
    pos = _file_positions(graph, position)
    return list(
        nx.lexicographical_topological_sort(
            graph, key=lambda s: (effective[s], priority[s], pos[s])
        )
    )


def _waves(graph: nx.DiGraph, order: Sequence[str]) -> dict[str, int]:
    wave: dict[str, int] = {}
    for node in nx.topological_sort(graph):
        wave[node] = 1 + max((wave[d] for d in graph.predecessors(node)), default=0)
    return {s: wave[s] for s in order}


def service_duration(host_durations: Sequence[float], max_parallel: int) -> float:
    """Shortest time a service can take alone: its hosts on `max_parallel` hands."""
    if not host_durations:
        return 0.0
    return max(max(host_durations), sum(host_durations) / max_parallel)


def _critical_path(graph: nx.DiGraph, durations: dict[str, float]) -> tuple[list[str], float]:
    finish: dict[str, float] = {}
    best_pred: dict[str, str | None] = {}
    for node in nx.topological_sort(graph):
        preds = list(graph.predecessors(node))
        pred = max(preds, key=lambda p: (finish[p], p), default=None)
        finish[node] = durations[node] + (finish[pred] if pred else 0.0)
        best_pred[node] = pred
    if not finish:
        return [], 0.0
    end = max(finish, key=lambda n: (finish[n], n))
    path = [end]
    while (prev := best_pred[path[-1]]) is not None:
        path.append(prev)
    return list(reversed(path)), finish[end]


def build_plan(
    graph: GraphSpec,
    inventory: Inventory,
    *,
    only: str | None = None,
    max_parallel: Sequence[int] = (1,),
) -> RestorePlan:
    """Compute the whole plan. Raises InputError for a bad binding or option."""
    if not max_parallel or any(k < 1 for k in max_parallel):
        raise InputError("--max-parallel takes whole numbers >= 1, e.g. 1,2,4", key="max-parallel")
    bound = bind(graph, inventory)
    digraph = to_digraph(graph.services)
    if only is not None:
        digraph = _needed_by(digraph, only, graph)
    specs = {s.id: s for s in graph.services if s.id in digraph}
    priority = {sid: s.priority for sid, s in specs.items()}
    position = {sid: index for index, sid in enumerate(specs)}
    inherited = effective_priorities(digraph, priority, position)
    effective = {sid: value for sid, (value, _) in inherited.items()}
    order = restore_order(digraph, priority, effective, position)
    waves = _waves(digraph, order)

    planned_hosts, host_durations = _planned_hosts(order, bound)
    durations = {
        sid: service_duration(host_durations.get(sid, []), specs[sid].max_parallel) for sid in order
    }
    critical, critical_length = _critical_path(digraph, durations)
    planned_services = tuple(
        PlannedService(
            id=sid,
            name=specs[sid].name,
            priority=priority[sid],
            effective_priority=effective[sid],
            inherited_from=inherited[sid][1],
            depends_on=tuple(d for d in specs[sid].depends_on if d in specs),
            hosts=tuple(h.name for h in bound[sid]),
            wave=waves[sid],
            duration_s=durations[sid],
            max_parallel=specs[sid].max_parallel,
            rto_s=specs[sid].rto_s,
        )
        for sid in order
    )
    simulations = _simulations(planned_services, planned_hosts, max_parallel)
    return RestorePlan(
        graph=graph,
        services=planned_services,
        hosts=tuple(planned_hosts),
        critical_path=tuple(critical),
        estimated_duration_s=simulations[0].makespan_s if simulations else critical_length,
        simulations=simulations,
        only=only,
    )


def _needed_by(digraph: nx.DiGraph, only: str, graph: GraphSpec) -> nx.DiGraph:
    """--only: the service and everything it needs."""
    if only not in digraph:
        raise InputError(
            f"unknown service '{only}' for --only",
            file=str(graph.path),
            key="--only",
            hint=did_you_mean(only, list(digraph)) or "use a service id from the graph",
        )
    keep = nx.ancestors(digraph, only) | {only}
    return digraph.subgraph(keep).copy()


def _planned_hosts(
    order: Sequence[str], bound: Mapping[str, Sequence[BoundHost]]
) -> tuple[list[PlannedHost], dict[str, list[float]]]:
    """Every host in service order with its estimated duration; the durations per service."""
    planned_hosts: list[PlannedHost] = []
    host_durations: dict[str, list[float]] = {}
    for sid in order:
        for host in bound[sid]:
            duration = sum(step_estimate(s) for s in host.steps)
            host_durations.setdefault(sid, []).append(duration)
            planned_hosts.append(
                PlannedHost(
                    name=host.name,
                    service=sid,
                    platform=host.spec.platform.value,
                    steps=host.steps,
                    duration_s=duration,
                    bound=host,
                )
            )
    return planned_hosts, host_durations


def _simulations(
    planned_services: Sequence[PlannedService],
    planned_hosts: Sequence[PlannedHost],
    max_parallel: Sequence[int],
) -> tuple[Simulation, ...]:
    """One simulated schedule per --max-parallel value."""
    sched_services = [
        SchedService(
            id=s.id,
            priority=s.priority,
            effective_priority=s.effective_priority,
            depends_on=s.depends_on,
            max_parallel=s.max_parallel,
            hosts=s.hosts,
        )
        for s in planned_services
    ]
    jobs = [
        SchedJob(host=h.name, service=h.service, duration_s=h.duration_s) for h in planned_hosts
    ]
    return tuple(simulate(sched_services, jobs, k) for k in max_parallel)
