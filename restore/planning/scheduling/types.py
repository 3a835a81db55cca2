"""The scheduler's inputs and the simulation's result (plain frozen data, JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SchedJob:
    """One host of one service, with its estimated duration (sum of its steps' estimates)."""

    host: str
    service: str
    duration_s: float


@dataclass(frozen=True)
class SchedService:
    """A service as the scheduler sees it.

    `effective_priority` is the minimum over the service and everything that depends on it,
    transitively (DESIGN §3); `restore.planning.plan.effective_priority_values()` computes it
    when the caller has not.
    """

    id: str
    priority: int
    effective_priority: int
    depends_on: tuple[str, ...]
    max_parallel: int
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class ServiceSim:
    id: str
    restored_s: float
    lower_bound_s: float


@dataclass(frozen=True)
class TimelineEntry:
    host: str
    service: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Simulation:
    """The projected run at one `max_parallel`, and how close it is to what is possible."""

    max_parallel: int
    makespan_s: float
    lower_bound_s: float
    priority1_restored_s: float
    priority1_lower_bound_s: float
    services: tuple[ServiceSim, ...]
    timeline: tuple[TimelineEntry, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The `simulation` object of `restore plan --format json` (DESIGN §4)."""
        return {
            "max_parallel": self.max_parallel,
            "makespan_s": self.makespan_s,
            "lower_bound_s": self.lower_bound_s,
            "priority1_restored_s": self.priority1_restored_s,
            "priority1_lower_bound_s": self.priority1_lower_bound_s,
            "services": [
                {"id": s.id, "restored_s": s.restored_s, "lower_bound_s": s.lower_bound_s}
                for s in self.services
            ],
            "timeline": [
                {"host": t.host, "service": t.service, "start_s": t.start_s, "end_s": t.end_s}
                for t in self.timeline
            ],
        }
