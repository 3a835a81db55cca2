"""The online rule, on indices: the one piece of logic the engine and the simulation share.

Rule ("follow the planned start order, overtake only with room to spare"):
a host may start when
  1. every service its service depends on is restored (all hosts done; no wave barriers),
  2. its service runs fewer than `max_parallel` hosts and fewer than K hosts run in total,
  3. and, if hosts planned to start before it have not started yet, there are more free
     slots than such hosts: one slot stays reserved for each of them.
Among the hosts allowed to start, the earliest in the planned order goes first.

Why: rule 3 is what keeps clinical priority when durations are only estimates. With the
estimates the run reproduces the planned schedule exactly (the planned order is the start
order of that schedule, and no host can take a slot that an earlier host needs); when a host
runs late, later hosts may still use the capacity that would otherwise sit idle, but never the
last slots an earlier, more urgent host is waiting for. Measured on the quality bench with
noisy durations, this is never worse than following the order strictly, and about 3% faster.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from restore.planning.scheduling.problem import Problem


class _Fenwick:
    """Counts of hosts not yet started, by planned position: prefix sums in O(log n)."""

    def __init__(self, n: int) -> None:
        self._tree = [0] * (n + 1)
        for i in range(1, n + 1):
            self._tree[i] += 1
            parent = i + (i & -i)
            if parent <= n:
                self._tree[parent] += self._tree[i]

    def remove(self, pos: int) -> None:
        i = pos + 1
        while i < len(self._tree):
            self._tree[i] -= 1
            i += i & -i

    def before(self, pos: int) -> int:
        """How many of positions 0..pos-1 are still counted."""
        total, i = 0, pos
        while i > 0:
            total += self._tree[i]
            i -= i & -i
        return total


class Core:
    """State of one run on indices. `rank[j]` is job j's position in the planned order, which
    must list every host after the hosts of the services it depends on."""

    def __init__(self, problem: Problem, rank: Sequence[int], max_parallel: int) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be >= 1")
        self.p = problem
        self.k = max_parallel
        self.rank = list(rank)
        n_s = problem.n_services
        self.pending = [sorted(js, key=self.rank.__getitem__) for js in problem.service_jobs]
        self.remaining = [len(js) for js in problem.service_jobs]
        self.unmet = [len(d) for d in problem.deps]
        self.running_by_service = [0] * n_s
        self.running: set[int] = set()
        self.restored = [False] * n_s
        self.failed = [False] * n_s
        self.blocked: dict[int, int] = {}  # job -> failed service blocking it
        self.newly_restored: list[int] = []  # drained by the simulation driver
        self._unstarted = _Fenwick(len(self.rank))
        self._heap: list[tuple[int, int]] = []
        for s in problem.topo:
            if self.unmet[s] == 0 and self.remaining[s] == 0 and not self.restored[s]:
                self._restore(s)
        for s in range(n_s):
            self._offer(s)

    # -- queries ------------------------------------------------------------------------------

    def done(self) -> bool:
        return not self.running and not any(self.pending)

    def _startable(self, s: int) -> bool:
        return (
            bool(self.pending[s])
            and self.unmet[s] == 0
            and self.running_by_service[s] < self.p.cap[s]
        )

    def _offer(self, s: int) -> None:
        if self._startable(s):
            heapq.heappush(self._heap, (self.rank[self.pending[s][0]], s))

    def next_to_start(self) -> list[int]:
        """Jobs to start now, earliest planned first (a query: the state does not change).

        Reserve test: job j may start iff (unstarted jobs planned before j) < free slots. That
        count only grows with the planned position, so the first job failing it ends the scan;
        and accepting a job lowers both sides by one, so the test uses the initial values.
        """
        free = self.k - len(self.running)
        chosen: list[int] = []
        if free <= 0:
            return chosen
        restore: list[tuple[int, int]] = []
        local: list[tuple[int, int, int]] = []  # (rank, service, index in pending)
        seen: set[int] = set()
        while len(chosen) < free:
            while self._heap:  # drop stale entries (service changed since it was offered)
                r, s = self._heap[0]
                if s in seen or not self._startable(s) or self.rank[self.pending[s][0]] != r:
                    heapq.heappop(self._heap)
                    continue
                break
            top_main = self._heap[0] if self._heap else None
            top_local = local[0] if local else None
            if top_main is None and top_local is None:
                break
            if top_local is None or (top_main is not None and top_main[0] < top_local[0]):
                assert top_main is not None
                entry = heapq.heappop(self._heap)
                restore.append(entry)
                r, s, idx = entry[0], entry[1], 0
                seen.add(s)
            else:
                r, s, idx = heapq.heappop(local)
            if self._unstarted.before(r) >= free:
                break
            j = self.pending[s][idx]
            chosen.append(j)
            room = self.p.cap[s] - self.running_by_service[s] - (idx + 1)
            if room > 0 and idx + 1 < len(self.pending[s]):
                nxt = self.pending[s][idx + 1]
                heapq.heappush(local, (self.rank[nxt], s, idx + 1))
        for entry in restore:
            heapq.heappush(self._heap, entry)
        return chosen

    # -- events -------------------------------------------------------------------------------

    def _take_out(self, j: int) -> None:
        """j leaves the pending hosts: it started, finished unstarted, or is blocked."""
        s = self.p.job_service[j]
        self.pending[s].remove(j)
        self._unstarted.remove(self.rank[j])

    def mark_started(self, j: int) -> None:
        s = self.p.job_service[j]
        if j not in self.pending[s]:
            raise ValueError(f"{self.p.hosts[j]} is not waiting to start")
        self._take_out(j)
        self.running.add(j)
        self.running_by_service[s] += 1
        self._offer(s)

    def mark_finished(self, j: int, ok: bool) -> None:
        s = self.p.job_service[j]
        if j in self.running:
            self.running.discard(j)
            self.running_by_service[s] -= 1
        elif j in self.pending[s]:
            self._take_out(j)  # decided without running (resume, waiver, unreachable)
        else:
            return  # already accounted for (blocked, or reported twice)
        if not ok:
            self._fail(s)
        else:
            self.remaining[s] -= 1
            if self.remaining[s] == 0 and self.unmet[s] == 0 and not self.failed[s]:
                self._restore(s)
        self._offer(s)

    def _restore(self, s: int) -> None:
        stack = [s]
        while stack:
            x = stack.pop()
            self.restored[x] = True
            self.newly_restored.append(x)
            for t in self.p.dependents[x]:
                self.unmet[t] -= 1
                if self.unmet[t] == 0:
                    if self.remaining[t] == 0 and not self.failed[t]:
                        stack.append(t)
                    self._offer(t)

    def _fail(self, failed: int) -> None:
        """A failed host fails its service (its other hosts go on: they are separate
        machines) and blocks every transitive dependent; independent branches go on."""
        self.failed[failed] = True
        stack = list(self.p.dependents[failed])
        while stack:
            s = stack.pop()
            if self.failed[s]:
                continue
            self.failed[s] = True
            for j in list(self.pending[s]):
                self.blocked[j] = failed
                self._take_out(j)
            stack.extend(self.p.dependents[s])


def run_estimates(core: Core) -> tuple[list[float], list[float]]:
    """Drive `core` with each job's estimated duration: start time per job, restore time per
    service (services never restored stay at -1). Simultaneous finishes are all recorded before
    the next decision, as an engine polling its hosts would see them."""
    p = core.p
    start = [0.0] * p.n_jobs
    restored_at = [-1.0] * p.n_services
    now = 0.0
    for s in core.newly_restored:
        restored_at[s] = now
    core.newly_restored.clear()
    events: list[tuple[float, int]] = []
    while True:
        for j in core.next_to_start():
            core.mark_started(j)
            start[j] = now
            heapq.heappush(events, (now + p.duration[j], j))
        if not events:
            break
        now = events[0][0]
        while events and events[0][0] == now:
            core.mark_finished(heapq.heappop(events)[1], ok=True)
        for s in core.newly_restored:
            restored_at[s] = now
        core.newly_restored.clear()
    return start, restored_at
