"""`Scheduler`: the online, event-driven face of the rule in core.py, by host name."""

from __future__ import annotations

from collections.abc import Sequence

from restore.planning.scheduling.core import Core
from restore.planning.scheduling.problem import Problem
from restore.planning.scheduling.search import best_rank
from restore.planning.scheduling.types import SchedJob, SchedService


class Scheduler:
    """Which hosts to start now, given what has started, finished, failed or been skipped.

    The planned order is computed once, from the estimates, at construction (deterministic:
    the same services, jobs and K give the same order, in `restore plan` and in `restore
    run`). From then on only events matter, so actual durations may differ from estimates.
    Pass `order` (host names, every host once, dependencies first) to follow a given order.
    """

    def __init__(
        self,
        services: Sequence[SchedService],
        jobs: Sequence[SchedJob],
        max_parallel: int,
        order: Sequence[str] | None = None,
    ) -> None:
        if max_parallel < 1:
            raise ValueError("max_parallel must be >= 1")
        self.max_parallel = max_parallel
        self._problem = Problem(services, jobs)
        if order is None:
            rank = best_rank(self._problem, max_parallel)
        else:
            if sorted(order) != sorted(self._problem.hosts):
                raise ValueError("order must list every host exactly once")
            rank = [0] * self._problem.n_jobs
            for pos, host in enumerate(order):
                rank[self._problem.host_index[host]] = pos
        self._core = Core(self._problem, rank, max_parallel)

    @property
    def core(self) -> Core:
        """The index-level state, for `simulate()` to replay estimates through this object."""
        return self._core

    @property
    def order(self) -> tuple[str, ...]:
        """Every host in planned start order (what the crisis cell sees as 'next up')."""
        by_rank = sorted(range(self._problem.n_jobs), key=self._core.rank.__getitem__)
        return tuple(self._problem.hosts[j] for j in by_rank)

    @property
    def blocked(self) -> dict[str, str]:
        """host -> the failed service that blocks it."""
        p = self._problem
        return {p.hosts[j]: p.service_ids[s] for j, s in self._core.blocked.items()}

    @property
    def running(self) -> frozenset[str]:
        return frozenset(self._problem.hosts[j] for j in self._core.running)

    def service_restored(self, service_id: str) -> bool:
        p = self._problem
        return service_id in p.service_ids and self._core.restored[p.service_ids.index(service_id)]

    def done(self) -> bool:
        """Nothing runs and nothing is left that could start (blocked hosts never will)."""
        return self._core.done()

    def next_to_start(self) -> list[str]:
        """Hosts to start now, in planned order. A query: call mark_started for each."""
        return [self._problem.hosts[j] for j in self._core.next_to_start()]

    def _job(self, host: str) -> int:
        try:
            return self._problem.host_index[host]
        except KeyError:
            raise ValueError(f"unknown host {host!r}") from None

    def mark_started(self, host: str) -> None:
        self._core.mark_started(self._job(host))

    def mark_finished(self, host: str, ok: bool) -> None:
        """ok=False fails the host's service: every transitive dependent's hosts are blocked;
        the service's other hosts and independent branches go on."""
        self._core.mark_finished(self._job(host), ok)

    def mark_skipped(self, host: str) -> None:
        """An operator waiver: the host counts as done for its dependents."""
        self._core.mark_finished(self._job(host), ok=True)
