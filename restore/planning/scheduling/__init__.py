"""The one scheduler: drives `restore run` live and `restore plan`'s what-if simulation.

Public API (also importable as `restore.planning.scheduling`):
  - `SchedService`, `SchedJob`: the inputs (a job is one host of one service with its
    estimated duration, the sum of its steps' estimates).
  - `Scheduler(services, jobs, max_parallel)`: online and event-driven. `next_to_start()`
    lists the hosts to start now; report `mark_started(host)`, `mark_finished(host, ok)`,
    `mark_skipped(host)` (an operator waiver: done for its dependents). `blocked` maps each
    host that can no longer run to the failed service blocking it; `done()` says whether
    anything is left that could run; `order` is the planned start order.
  - `simulate(services, jobs, max_parallel) -> Simulation`: the same Scheduler driven by the
    estimates; `Simulation.to_json()` is the `simulation` object of DESIGN §4.
  - `chain_lower_bounds(services, jobs)` and `srm_baseline(services, jobs, max_parallel)` for
    callers and the quality bench (effective priorities come from restore.planning.plan).

Semantics: a service is restored when all its hosts are done; a host may start only when
every service its service depends on is restored (no wave barriers), its service runs fewer
than its `max_parallel` hosts, and fewer than K hosts run in total. A failed host fails its
service and blocks every transitive dependent; independent branches go on.

The rule, in two halves (details and reasons in search.py and core.py):
  - Planning (once, from the estimates): choose a start order. Clinical priority first: the
    priority-1 services and everything they need are scheduled first, and less urgent work is
    backfilled into the capacity they leave, so it can never push them back; then makespan.
    Several candidate schedules (textbook list scheduling on effective priority with
    critical-path tie-breaks, the SRM-style group baseline, layered earliest-fit schedules
    with seeded perturbations of the critical-path key) are replayed through the online rule
    and the best on (priority-1 restored, makespan, other priorities) is kept.
  - Running: follow that order; a host may overtake hosts planned before it only while more
    slots are free than there are such hosts. With exact estimates the run is the plan; when
    durations differ, spare capacity is still used, never the slots earlier hosts wait for.

Pure: stdlib only, no I/O, deterministic (no clock, seeded sampling).
"""

from restore.planning.scheduling.online import Scheduler
from restore.planning.scheduling.problem import URGENT_PRIORITY
from restore.planning.scheduling.simulation import chain_lower_bounds, simulate, srm_baseline
from restore.planning.scheduling.types import (
    SchedJob,
    SchedService,
    ServiceSim,
    Simulation,
    TimelineEntry,
)

__all__ = [
    "URGENT_PRIORITY",
    "SchedJob",
    "SchedService",
    "Scheduler",
    "ServiceSim",
    "Simulation",
    "TimelineEntry",
    "chain_lower_bounds",
    "simulate",
    "srm_baseline",
]
