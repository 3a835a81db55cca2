"""Choosing the planned start order that the online rule (core.py) follows.

Candidates are complete schedules built with estimated durations; each is turned into an
order (hosts by planned start) and replayed through the online rule itself, so the figure that
decides is exactly what `restore plan` will show and what `restore run` will do if the
estimates hold. The best candidate wins on, in this order:
  1. the time the priority-1 services are back (clinical priority first),
  2. the makespan,
  3. the time each less urgent priority level is back, most urgent first.

Candidates:
  - list scheduling on (effective priority, longest remaining chain): the textbook rule, kept
    as a floor;
  - the SRM-style baseline (five priority groups in sequence), so the result is never later
    than it for priority 1;
  - layered serial schedule generation: the most urgent class (the priority-1 services and all
    they need) is placed first into an empty calendar, earliest fit, longest remaining chain
    first; everything else then fills the capacity it left, either one priority class after
    the other or all together. Less urgent work thus never delays the priority-1 services; it
    is placed in the holes they leave (backfilling). Then the same with the chain lengths
    randomly perturbed by up to 30% (seeded: the result is deterministic), which finds the
    better tie-breaks that a single greedy key misses (biased random sampling, as for the
    resource-constrained project scheduling problem).

Plain list scheduling cannot do this: it is work-conserving, so a long, less urgent host that
grabs a free slot at the wrong moment delays the clinical core, which is why its priority-1
figure has a long tail. Measured figures are in docs/scheduling.md.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from restore.planning.scheduling.core import Core, run_estimates
from restore.planning.scheduling.problem import URGENT_PRIORITY, Problem

SAMPLES = 24
"""Candidate keys per layering (the first two unperturbed). 24 is where the bench's figures
stop improving: 48 changes the worst case by 0.001 and doubles the time."""
FULL_SEARCH_MAX_JOBS = 600
"""Above this many hosts only the deterministic candidates run, to keep a plan under 2 s."""
LARGE_PLAN_JOBS = 3000
"""Above this, one layered candidate only: calendar placement grows quadratically (about 1 s
per candidate at 10,000 hosts)."""

Objective = tuple[float, ...]
JobKey = Callable[[int], tuple[float, int]]


class _Calendar:
    """How many of `capacity` slots are busy over time: usage[i] holds on [times[i],
    times[i+1]). `full` mirrors `usage >= capacity` as bytes so that finding the next full or
    free segment is a C-speed scan (bytearray.find) rather than a Python loop: at 10,000 hosts
    and K=1 every placement walks past thousands of full segments, which made the search
    quadratic in Python steps (1.7 s of a 3 s plan)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.times = [0.0]
        self.usage = [0]
        self.full = bytearray(b"\x00")

    def earliest(self, release: float, duration: float) -> float:
        """Earliest start >= release with fewer than `capacity` busy for the whole duration.
        The last segment is always empty (nothing is booked forever), so a start exists."""
        times, full = self.times, self.full
        start = release
        while True:
            i = bisect.bisect_right(times, start) - 1
            # the segments that [start, start + duration) touches: i, and those starting
            # before its end
            end = max(i + 1, bisect.bisect_left(times, start + duration, lo=i + 1))
            blocked = full.find(1, i, end)
            if blocked < 0:
                return start
            start = times[full.find(0, blocked + 1)]

    def book(self, start: float, end: float) -> None:
        for t in (start, end):
            i = bisect.bisect_right(self.times, t) - 1
            if self.times[i] != t:
                self.times.insert(i + 1, t)
                self.usage.insert(i + 1, self.usage[i])
                self.full.insert(i + 1, self.full[i])
        lo = bisect.bisect_left(self.times, start)
        hi = bisect.bisect_left(self.times, end)
        for m in range(lo, hi):
            self.usage[m] += 1
            self.full[m] = self.usage[m] >= self.capacity


@dataclass
class _Layer:
    """What releasing a service into the current layer touches."""

    members: set[int]
    unmet: dict[int, int]
    heap: list[tuple[tuple[float, int], int]]
    restored: list[float]
    floor: float
    released: set[int]


def _release(p: Problem, s: int, key: JobKey, layer: _Layer) -> None:
    """Service s has all its in-layer dependencies placed: its hosts may now be placed. A
    service without hosts is back at once, which may release its own dependents. Releasing
    is idempotent: a hostless cascade may reach a service before the layer's own scan does,
    and releasing it twice would count its dependents' dependencies as met twice."""
    if s in layer.released:
        return
    layer.released.add(s)
    if p.service_jobs[s]:
        for j in p.service_jobs[s]:
            heapq.heappush(layer.heap, (key(j), j))
        return
    layer.restored[s] = max((layer.restored[d] for d in p.deps[s]), default=layer.floor)
    for t in p.dependents[s]:
        if t in layer.members:
            layer.unmet[t] -= 1
            if layer.unmet[t] == 0:
                _release(p, t, key, layer)


def _place(
    p: Problem, k: int, key: JobKey, layer_of: Callable[[int], int], barrier: bool = False
) -> list[float]:
    """Serial schedule generation, layer by layer: each job at its earliest feasible start
    given the jobs already placed. A layer only ever depends on itself and earlier layers
    (effective priority guarantees it). With `barrier`, a layer starts after the previous one
    has entirely finished (the SRM-style baseline)."""
    calendar = _Calendar(k)
    per_service = [_Calendar(p.cap[s]) for s in range(p.n_services)]
    start = [0.0] * p.n_jobs
    restored = [0.0] * p.n_services
    left = [len(js) for js in p.service_jobs]
    floor = 0.0
    layers: dict[int, list[int]] = {}
    for s in p.topo:
        layers.setdefault(layer_of(s), []).append(s)
    for layer in sorted(layers):
        members = set(layers[layer])
        unmet = {s: sum(1 for d in p.deps[s] if d in members) for s in members}
        heap: list[tuple[tuple[float, int], int]] = []
        end_of_layer = floor
        state = _Layer(members, unmet, heap, restored, floor, set())

        for s in layers[layer]:
            if unmet[s] == 0:
                _release(p, s, key, state)
        while heap:
            j = heapq.heappop(heap)[1]
            s = p.job_service[j]
            duration = p.duration[j]
            t = max((restored[d] for d in p.deps[s]), default=0.0)
            t = max(t, floor)
            while True:
                t = calendar.earliest(t, duration)
                again = per_service[s].earliest(t, duration)
                if again == t:
                    break
                t = again
            calendar.book(t, t + duration)
            per_service[s].book(t, t + duration)
            start[j] = t
            restored[s] = max(restored[s], t + duration)
            end_of_layer = max(end_of_layer, t + duration)
            left[s] -= 1
            if left[s] == 0:
                for d in p.dependents[s]:
                    if d in members:
                        unmet[d] -= 1
                        if unmet[d] == 0:
                            _release(p, d, key, state)
        if barrier:
            floor = end_of_layer
    return start


def order_of(p: Problem, start: list[float]) -> list[int]:
    """rank per job: by planned start; ties keep dependencies first (topological position)."""
    jobs = sorted(
        range(p.n_jobs), key=lambda j: (start[j], p.topo_pos[p.job_service[j]], p.listed[j], j)
    )
    rank = [0] * p.n_jobs
    for pos, j in enumerate(jobs):
        rank[j] = pos
    return rank


def list_rank(p: Problem) -> list[int]:
    """Textbook list scheduling: effective priority, then longest remaining chain. The chain
    strictly decreases along dependencies of equal urgency (the topological position breaks
    zero-work ties), so the order lists dependencies first, as the online rule needs."""
    jobs = sorted(
        range(p.n_jobs),
        key=lambda j: (
            p.effective[p.job_service[j]],
            -p.tail[p.job_service[j]],
            p.topo_pos[p.job_service[j]],
            p.listed[j],
        ),
    )
    rank = [0] * p.n_jobs
    for pos, j in enumerate(jobs):
        rank[j] = pos
    return rank


def srm_groups(p: Problem) -> Callable[[int], int]:
    """Five priority groups as in VMware SRM: the four most urgent effective priorities get a
    group each, everything less urgent shares the fifth."""
    levels = sorted(set(p.effective))
    group = {level: min(i, 4) for i, level in enumerate(levels)}
    return lambda s: group[p.effective[s]]


def srm_start(p: Problem, k: int) -> list[float]:
    """The SRM-style baseline schedule: groups in sequence, longest chain first inside."""
    return _place(p, k, _chain_key(p, None), srm_groups(p), barrier=True)


def _chain_key(p: Problem, noise: list[float] | None) -> JobKey:
    """Longest remaining chain through this very host first (its service's tail, counting
    this host rather than the whole service), optionally perturbed."""

    def key(j: int) -> tuple[float, int]:
        s = p.job_service[j]
        value = p.tail[s] - p.work[s] + p.duration[j]
        return (-value * (noise[j] if noise else 1.0), j)

    return key


def _service_chain_key(p: Problem, noise: list[float] | None) -> JobKey:
    """The service's whole remaining chain first, then its longest host (LPT)."""

    def key(j: int) -> tuple[float, int]:
        s = p.job_service[j]
        value = p.tail[s] * (noise[j] if noise else 1.0) + p.duration[j] * 1e-6
        return (-value, j)

    return key


def objective(p: Problem, start: list[float], restored: list[float]) -> Objective:
    urgent = [restored[s] for s in range(p.n_services) if p.priority[s] <= URGENT_PRIORITY]
    makespan = max((start[j] + p.duration[j] for j in range(p.n_jobs)), default=0.0)
    levels = sorted({pr for pr in p.priority if pr > URGENT_PRIORITY})
    by_level = [
        max(restored[s] for s in range(p.n_services) if p.priority[s] == level) for level in levels
    ]
    return (max(urgent, default=0.0), makespan, *by_level)


def _candidates(p: Problem, k: int) -> Iterator[list[int]]:
    yield list_rank(p)
    most_urgent = min(p.effective, default=0)
    layerings: list[Callable[[int], int]] = [
        lambda s: 0 if p.effective[s] == most_urgent else 1,
        lambda s: p.effective[s],
    ]
    if p.n_jobs > LARGE_PLAN_JOBS:
        yield order_of(p, _place(p, k, _chain_key(p, None), layerings[0]))
        return
    yield order_of(p, srm_start(p, k))
    samples = SAMPLES if p.n_jobs <= FULL_SEARCH_MAX_JOBS else 2
    rng = random.Random(8)  # fixed seed: the same plan every time, here and in the engine
    for i in range(samples):
        noise = None if i < 2 else [1.0 + rng.uniform(-0.3, 0.3) for _ in range(p.n_jobs)]
        key = (_chain_key, _service_chain_key)[i % 2](p, noise)
        for layer_of in layerings:
            yield order_of(p, _place(p, k, key, layer_of))


def best_rank(p: Problem, k: int) -> list[int]:
    """The planned order (rank per job) the online rule should follow at K slots."""
    best: tuple[Objective, list[int]] | None = None
    for rank in _candidates(p, k):
        start, restored = run_estimates(Core(p, rank, k))
        score = objective(p, start, restored)
        if best is None or score < best[0]:
            best = (score, rank)
    assert best is not None
    return best[1]
