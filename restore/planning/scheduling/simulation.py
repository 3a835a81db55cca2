"""`simulate()`: the run `restore run` would make if every estimate held."""

from __future__ import annotations

from collections.abc import Sequence

from restore.planning.scheduling.core import run_estimates
from restore.planning.scheduling.online import Scheduler
from restore.planning.scheduling.problem import Problem
from restore.planning.scheduling.search import srm_start
from restore.planning.scheduling.types import (
    SchedJob,
    SchedService,
    ServiceSim,
    Simulation,
    TimelineEntry,
)


def simulate(
    services: Sequence[SchedService], jobs: Sequence[SchedJob], max_parallel: int
) -> Simulation:
    """Drive a `Scheduler` (the engine's own) with the estimated durations."""
    scheduler = Scheduler(services, jobs, max_parallel)
    p: Problem = scheduler.core.p
    start, restored_at = run_estimates(scheduler.core)
    end = [start[j] + p.duration[j] for j in range(p.n_jobs)]
    urgent = p.urgent()
    # In start order: by simulated start, simultaneous starts in the scheduler's planned order
    # (the order the engine hands them out), never by name.
    rank = scheduler.core.rank
    timeline = [
        TimelineEntry(p.hosts[j], p.service_ids[p.job_service[j]], start[j], end[j])
        for j in sorted(range(p.n_jobs), key=lambda j: (start[j], rank[j]))
    ]
    return Simulation(
        max_parallel=max_parallel,
        makespan_s=max(end, default=0.0),
        lower_bound_s=p.lower_bound(max_parallel),
        priority1_restored_s=max((restored_at[s] for s in urgent), default=0.0),
        priority1_lower_bound_s=p.urgent_lower_bound(max_parallel),
        services=tuple(
            ServiceSim(sid, restored_at[i], p.head[i]) for i, sid in enumerate(p.service_ids)
        ),
        timeline=tuple(timeline),
    )


def chain_lower_bounds(
    services: Sequence[SchedService], jobs: Sequence[SchedJob]
) -> dict[str, float]:
    """service -> longest chain of work that must finish before it is back, itself included,
    ignoring K (each service counted at its own max_parallel)."""
    p = Problem(services, jobs)
    return {sid: p.head[i] for i, sid in enumerate(p.service_ids)}


def srm_baseline(
    services: Sequence[SchedService], jobs: Sequence[SchedJob], max_parallel: int
) -> tuple[float, float]:
    """(makespan, priority-1 restored) of the VMware SRM-style yardstick: five priority groups,
    each starting only once the previous group has finished."""
    p = Problem(services, jobs)
    start = srm_start(p, max_parallel)
    end = [start[j] + p.duration[j] for j in range(p.n_jobs)]
    restored = [max((end[j] for j in p.service_jobs[s]), default=0.0) for s in range(p.n_services)]
    for s in p.topo:  # a service without hosts is back when what it needs is
        if not p.service_jobs[s]:
            restored[s] = max((restored[d] for d in p.deps[s]), default=0.0)
    return max(end, default=0.0), max((restored[s] for s in p.urgent()), default=0.0)
