"""The one scheduler (public import path); the code lives in `restore.scheduling`."""

from restore.scheduling import (
    URGENT_PRIORITY,
    SchedJob,
    SchedService,
    Scheduler,
    ServiceSim,
    Simulation,
    TimelineEntry,
    chain_lower_bounds,
    effective_priorities,
    simulate,
    srm_baseline,
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
    "effective_priorities",
    "simulate",
    "srm_baseline",
]
