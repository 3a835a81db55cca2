"""The one scheduler: drives `restore run` live and `restore plan`'s what-if simulation.

Rule (list scheduling with priority inheritance and critical-path tie-breaks): whenever a slot
is free, start the ready host whose key is smallest:
    (effective priority of its service, remaining critical path descending, service, host order)
A host is ready when every service its service depends on is restored (all hosts done), its
service has fewer than `max_parallel` hosts running, and fewer than K hosts run in total.
Clinical priority first (effective priority), then the longest remaining chain, because a
long chain started late is what stretches the makespan. No capacity is left idle while a
host is ready (the list scheduler is work-conserving).

The same `Scheduler` object is driven by real events in the engine and by simulated events in
`simulate()`, so the plan's timeline is what the engine would do if estimates held.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SchedJob:
    """One host of one service, with its estimated duration."""

    host: str
    service: str
    duration_s: float


@dataclass(frozen=True)
class SchedService:
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
    max_parallel: int
    makespan_s: float
    lower_bound_s: float
    priority1_restored_s: float
    priority1_lower_bound_s: float
    services: tuple[ServiceSim, ...]
    timeline: tuple[TimelineEntry, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
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


def _topological(services: Sequence[SchedService]) -> list[SchedService]:
    by_id = {s.id: s for s in services}
    seen: set[str] = set()
    order: list[SchedService] = []

    def visit(sid: str) -> None:
        if sid in seen or sid not in by_id:
            return
        seen.add(sid)
        for dep in by_id[sid].depends_on:
            visit(dep)
        order.append(by_id[sid])

    for svc in services:
        visit(svc.id)
    return order


def _service_work(services: Sequence[SchedService], jobs: Sequence[SchedJob]) -> dict[str, float]:
    """The shortest time each service can take on its own `max_parallel` hands."""
    durations: dict[str, list[float]] = {s.id: [] for s in services}
    for job in jobs:
        durations.setdefault(job.service, []).append(job.duration_s)
    limits = {s.id: max(1, s.max_parallel) for s in services}
    return {
        sid: (max(max(d), sum(d) / limits.get(sid, 1)) if d else 0.0)
        for sid, d in durations.items()
    }


def chain_lower_bounds(
    services: Sequence[SchedService], jobs: Sequence[SchedJob]
) -> dict[str, float]:
    """Longest chain of work that must finish before a service is back, including it."""
    work = _service_work(services, jobs)
    bound: dict[str, float] = {}
    for svc in _topological(services):
        before = max((bound[d] for d in svc.depends_on if d in bound), default=0.0)
        bound[svc.id] = before + work.get(svc.id, 0.0)
    return bound


def _tails(services: Sequence[SchedService], jobs: Sequence[SchedJob]) -> dict[str, float]:
    """Longest chain of work from a service (included) to the end of the plan."""
    work = _service_work(services, jobs)
    dependents: dict[str, list[str]] = {s.id: [] for s in services}
    for svc in services:
        for dep in svc.depends_on:
            dependents.setdefault(dep, []).append(svc.id)
    tail: dict[str, float] = {}
    for svc in reversed(_topological(services)):
        tail[svc.id] = work.get(svc.id, 0.0) + max(
            (tail[d] for d in dependents.get(svc.id, []) if d in tail), default=0.0
        )
    return tail


class Scheduler:
    """Online, event-driven list scheduler (see the module docstring for the rule).

    Deterministic: the same events in the same order give the same decisions. Actual
    durations may differ from estimates; only start/finish events matter.
    """

    def __init__(
        self, services: Sequence[SchedService], jobs: Sequence[SchedJob], max_parallel: int
    ) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be >= 1")
        self.max_parallel = max_parallel
        self._services = {s.id: s for s in services}
        self._jobs = {j.host: j for j in jobs}
        tails = _tails(services, jobs)
        position = {host: index for s in services for index, host in enumerate(s.hosts)}
        self._key = {
            j.host: (
                self._services[j.service].effective_priority,
                self._services[j.service].priority,
                -tails.get(j.service, 0.0),
                j.service,
                position.get(j.host, 0),
                j.host,
            )
            for j in jobs
        }
        self._remaining = {s.id: len([j for j in jobs if j.service == s.id]) for s in services}
        self._running_by_service = {s.id: 0 for s in services}
        self._running: set[str] = set()
        self._pending: dict[str, list[str]] = {s.id: [] for s in services}
        for job in sorted(jobs, key=lambda j: self._key[j.host]):
            self._pending[job.service].append(job.host)
        self._restored: set[str] = {sid for sid, n in self._remaining.items() if n == 0}
        self._failed: set[str] = set()
        self._blocked: dict[str, str] = {}

    # -- queries ------------------------------------------------------------------------------

    @property
    def blocked(self) -> dict[str, str]:
        """host -> the failed service that blocks it."""
        return dict(self._blocked)

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._running)

    def service_restored(self, service_id: str) -> bool:
        return service_id in self._restored

    def done(self) -> bool:
        return not self._running and not any(self._pending.values())

    def _deps_restored(self, svc: SchedService) -> bool:
        return all(d in self._restored or d not in self._services for d in svc.depends_on)

    def next_to_start(self) -> list[str]:
        """Hosts to start now, best first. Call mark_started for each one you start."""
        free = self.max_parallel - len(self._running)
        if free <= 0:
            return []
        candidates: list[tuple[Any, str]] = []
        for sid, hosts in self._pending.items():
            svc = self._services[sid]
            if not hosts or sid in self._failed or not self._deps_restored(svc):
                continue
            room = svc.max_parallel - self._running_by_service[sid]
            for host in hosts[: max(0, room)]:
                candidates.append((self._key[host], host))
        chosen: list[str] = []
        per_service: dict[str, int] = {}
        for _, host in sorted(candidates):
            sid = self._jobs[host].service
            room = self._services[sid].max_parallel - self._running_by_service[sid]
            if per_service.get(sid, 0) >= room:
                continue
            chosen.append(host)
            per_service[sid] = per_service.get(sid, 0) + 1
            if len(chosen) == free:
                break
        return chosen

    # -- events -------------------------------------------------------------------------------

    def mark_started(self, host: str) -> None:
        sid = self._jobs[host].service
        self._pending[sid].remove(host)
        self._running.add(host)
        self._running_by_service[sid] += 1

    def _finish(self, host: str) -> str:
        sid = self._jobs[host].service
        if host in self._running:
            self._running.discard(host)
            self._running_by_service[sid] -= 1
        elif host in self._pending[sid]:
            self._pending[sid].remove(host)
        return sid

    def mark_finished(self, host: str, ok: bool) -> None:
        sid = self._finish(host)
        if ok:
            self._remaining[sid] -= 1
            if self._remaining[sid] == 0 and sid not in self._failed:
                self._restored.add(sid)
            return
        self._fail_service(sid)

    def mark_skipped(self, host: str) -> None:
        """An operator waiver: the host counts as done for its dependents."""
        self.mark_finished(host, ok=True)

    def _fail_service(self, failed: str) -> None:
        self._failed.add(failed)
        dependents: dict[str, list[str]] = {}
        for svc in self._services.values():
            for dep in svc.depends_on:
                dependents.setdefault(dep, []).append(svc.id)
        stack = list(dependents.get(failed, []))
        while stack:
            sid = stack.pop()
            if sid in self._failed:
                continue
            self._failed.add(sid)
            for host in self._pending[sid]:
                self._blocked.setdefault(host, failed)
            self._pending[sid] = []
            stack.extend(dependents.get(sid, []))


def simulate(
    services: Sequence[SchedService], jobs: Sequence[SchedJob], max_parallel: int
) -> Simulation:
    """Drive the Scheduler with estimated durations: the plan's projected timeline."""
    scheduler = Scheduler(services, jobs, max_parallel)
    durations = {j.host: j.duration_s for j in jobs}
    service_of = {j.host: j.service for j in jobs}
    now = 0.0
    events: list[tuple[float, str]] = []
    timeline: list[TimelineEntry] = []
    restored: dict[str, float] = {s.id: 0.0 for s in services}
    while True:
        for host in scheduler.next_to_start():
            scheduler.mark_started(host)
            end = now + durations[host]
            heapq.heappush(events, (end, host))
            timeline.append(TimelineEntry(host, service_of[host], now, end))
        if not events:
            break
        now, host = heapq.heappop(events)
        scheduler.mark_finished(host, ok=True)
        restored[service_of[host]] = max(restored[service_of[host]], now)
        # finish everything ending at the same instant before deciding again
        while events and events[0][0] == now:
            _, other = heapq.heappop(events)
            scheduler.mark_finished(other, ok=True)
            restored[service_of[other]] = max(restored[service_of[other]], now)
    # a service with no host is back when its dependencies are
    for svc in _topological(services):
        if not svc.hosts:
            restored[svc.id] = max(
                (restored[d] for d in svc.depends_on if d in restored), default=0.0
            )
    chains = chain_lower_bounds(services, jobs)
    total = sum(durations.values())
    makespan = max((t.end_s for t in timeline), default=0.0)
    urgent = [s for s in services if s.priority == 1]
    urgent_scope = _closure(services, [s.id for s in urgent])
    urgent_work = sum(j.duration_s for j in jobs if j.service in urgent_scope)
    return Simulation(
        max_parallel=max_parallel,
        makespan_s=makespan,
        lower_bound_s=max(max(chains.values(), default=0.0), total / max_parallel),
        priority1_restored_s=max((restored[s.id] for s in urgent), default=0.0),
        priority1_lower_bound_s=max(
            max((chains[s.id] for s in urgent), default=0.0), urgent_work / max_parallel
        ),
        services=tuple(ServiceSim(s.id, restored[s.id], chains[s.id]) for s in services),
        timeline=tuple(sorted(timeline, key=lambda t: (t.start_s, t.host))),
    )


def _closure(services: Sequence[SchedService], roots: list[str]) -> set[str]:
    """The services in `roots` and everything they need, transitively."""
    by_id = {s.id: s for s in services}
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        sid = stack.pop()
        if sid in seen or sid not in by_id:
            continue
        seen.add(sid)
        stack.extend(by_id[sid].depends_on)
    return seen
