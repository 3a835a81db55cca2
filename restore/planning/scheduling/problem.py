"""Services and jobs compiled to integer indices, plus the bounds every part needs.

Everything downstream (the online rule, the order search, the lower bounds) works on the
indices here: it keeps the hot loops free of string hashing, which is what lets the search
evaluate dozens of candidate orders within the plan's time budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from restore.planning.scheduling.types import SchedJob, SchedService

URGENT_PRIORITY = 1
"""Services at this priority or more urgent are the clinical core of the priority-1 figures."""


class Problem:
    """Index form of (services, jobs). Unknown dependencies are ignored (the graph validator
    refuses them before planning; `--only` subsets may leave some out on purpose)."""

    def __init__(self, services: Sequence[SchedService], jobs: Sequence[SchedJob]) -> None:
        self.service_ids = [s.id for s in services]
        index = {sid: i for i, sid in enumerate(self.service_ids)}
        if len(index) != len(services):
            raise ValueError("duplicate service id")
        self.priority = [s.priority for s in services]
        self.effective = [s.effective_priority for s in services]
        self.cap = [max(1, s.max_parallel) for s in services]
        self.deps = [sorted({index[d] for d in s.depends_on if d in index}) for s in services]
        self.dependents: list[list[int]] = [[] for _ in services]
        for i, deps in enumerate(self.deps):
            for d in deps:
                self.dependents[d].append(i)

        listed = [{h: k for k, h in enumerate(s.hosts)} for s in services]
        self.hosts = [j.host for j in jobs]
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError("a host appears in two jobs")
        self.host_index = {h: i for i, h in enumerate(self.hosts)}
        self.job_service: list[int] = []
        for job in jobs:
            if job.service not in index:
                raise ValueError(f"job {job.host} names unknown service {job.service}")
            self.job_service.append(index[job.service])
        self.duration = [max(0.0, float(j.duration_s)) for j in jobs]
        self.listed = [
            listed[s].get(h, len(listed[s]))
            for h, s in zip(self.hosts, self.job_service, strict=True)
        ]
        self.service_jobs: list[list[int]] = [[] for _ in services]
        for j, s in enumerate(self.job_service):
            self.service_jobs[s].append(j)
        for members in self.service_jobs:
            members.sort(key=lambda j: (self.listed[j], j))

        self.topo = _topological(self.deps, self.dependents)
        self.topo_pos = [0] * len(services)
        for pos, s in enumerate(self.topo):
            self.topo_pos[s] = pos
        self.work = [self._service_work(s) for s in range(len(services))]
        self.head = [0.0] * len(services)  # longest chain ending with s, s included
        for s in self.topo:
            self.head[s] = self.work[s] + max((self.head[d] for d in self.deps[s]), default=0.0)
        self.tail = [0.0] * len(services)  # longest chain starting with s, s included
        for s in reversed(self.topo):
            self.tail[s] = self.work[s] + max(
                (self.tail[t] for t in self.dependents[s]), default=0.0
            )

    @property
    def n_services(self) -> int:
        return len(self.service_ids)

    @property
    def n_jobs(self) -> int:
        return len(self.hosts)

    def _service_work(self, s: int) -> float:
        """The shortest time the service can take alone on its own `max_parallel` hands."""
        durations = [self.duration[j] for j in self.service_jobs[s]]
        if not durations:
            return 0.0
        return max(max(durations), sum(durations) / self.cap[s])

    def urgent(self) -> list[int]:
        return [s for s in range(self.n_services) if self.priority[s] <= URGENT_PRIORITY]

    def closure(self, roots: Iterable[int]) -> set[int]:
        """The services in `roots` and everything they need, transitively."""
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            s = stack.pop()
            if s not in seen:
                seen.add(s)
                stack.extend(self.deps[s])
        return seen

    # -- lower bounds (issue 8) ---------------------------------------------------------------

    def lower_bound(self, k: int) -> float:
        """max(longest dependency chain, total work / K)."""
        return max(max(self.head, default=0.0), sum(self.duration) / k)

    def urgent_lower_bound(self, k: int) -> float:
        """max(longest chain ending in a priority-1 service, work of the priority-1 services
        and of everything they need / K)."""
        urgent = self.urgent()
        if not urgent:
            return 0.0
        scope = self.closure(urgent)
        work = sum(d for d, s in zip(self.duration, self.job_service, strict=True) if s in scope)
        return max(max(self.head[s] for s in urgent), work / k)


def _topological(deps: list[list[int]], dependents: list[list[int]]) -> list[int]:
    """Kahn's order, smallest index first among equals (deterministic). Raises on a cycle."""
    import heapq

    unmet = [len(d) for d in deps]
    ready = [s for s, n in enumerate(unmet) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        s = heapq.heappop(ready)
        order.append(s)
        for t in dependents[s]:
            unmet[t] -= 1
            if unmet[t] == 0:
                heapq.heappush(ready, t)
    if len(order) != len(deps):
        raise ValueError("dependency cycle among services")
    return order
