"""Property tests of the scheduler on random dependency graphs (hypothesis)."""

from __future__ import annotations

import heapq
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from restore.planning.plan import effective_priority_values
from restore.planning.scheduling import (
    SchedJob,
    SchedService,
    Scheduler,
    simulate,
    srm_baseline,
)
from restore.planning.scheduling.problem import Problem
from restore.planning.scheduling.search import list_rank

EPS = 1e-6


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[SchedService], list[SchedJob]]:
    n = draw(st.integers(1, 8))
    raw = []
    for i in range(n):
        deps = tuple(sorted(draw(st.sets(st.integers(0, i - 1), max_size=3)))) if i else ()
        hosts = draw(st.integers(0 if i else 1, 4))
        durations = [draw(st.integers(1, 100)) for _ in range(hosts)]
        raw.append(
            (
                f"s{i}",
                draw(st.integers(1, 5)),
                tuple(f"s{d}" for d in deps),
                draw(st.integers(1, 3)),
                durations,
            )
        )
    eff = effective_priority_values({r[0]: r[1] for r in raw}, {r[0]: r[2] for r in raw})
    services, jobs = [], []
    for sid, prio, deps, parallel, durations in raw:
        names = tuple(f"{sid}h{k}" for k in range(len(durations)))
        services.append(SchedService(sid, prio, eff[sid], deps, parallel, names))
        jobs += [SchedJob(h, sid, float(d)) for h, d in zip(names, durations, strict=True)]
    return services, jobs


def drive(scheduler: Scheduler, durations: dict[str, float]) -> dict[str, tuple[float, float]]:
    now, events, seen = 0.0, [], {}
    while True:
        for host in scheduler.next_to_start():
            scheduler.mark_started(host)
            seen[host] = (now, now + durations[host])
            heapq.heappush(events, (now + durations[host], host))
        if not events:
            return seen
        now = events[0][0]
        while events and events[0][0] == now:
            scheduler.mark_finished(heapq.heappop(events)[1], ok=True)


def restored_times(
    services: list[SchedService], times: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """service -> when all its hosts are done; a service without hosts, when its needs are."""
    done_at: dict[str, float] = {}
    pending = list(services)
    while pending:  # services are listed dependencies first in these graphs
        s = pending.pop(0)
        own = max((times[h][1] for h in s.hosts), default=0.0)
        done_at[s.id] = max([own] + [done_at[d] for d in s.depends_on]) if not s.hosts else own
    return done_at


def assert_feasible(
    services: list[SchedService],
    jobs: list[SchedJob],
    times: dict[str, tuple[float, float]],
    k: int,
) -> None:
    assert set(times) == {j.host for j in jobs}, "every host runs exactly once"
    service_of = {j.host: j.service for j in jobs}
    by_id = {s.id: s for s in services}
    done_at = restored_times(services, times)
    for host, (start, _) in times.items():
        running = [h for h, (a, b) in times.items() if a <= start < b]
        assert len(running) <= k
        sid = service_of[host]
        assert sum(service_of[h] == sid for h in running) <= by_id[sid].max_parallel
        for dep in by_id[sid].depends_on:
            assert done_at[dep] <= start + EPS, f"{host} started before {dep} was back"


@settings(max_examples=150, deadline=None)
@given(graphs(), st.integers(1, 4))
def test_simulation_is_feasible_and_above_its_bounds(graph, k) -> None:  # type: ignore[no-untyped-def]
    services, jobs = graph
    sim = simulate(services, jobs, k)
    times = {t.host: (t.start_s, t.end_s) for t in sim.timeline}
    assert_feasible(services, jobs, times, k)
    assert sim.makespan_s >= sim.lower_bound_s - EPS
    assert sim.priority1_restored_s >= sim.priority1_lower_bound_s - EPS
    for s in sim.services:
        assert s.restored_s >= s.lower_bound_s - EPS
    assert times == drive(Scheduler(services, jobs, k), {j.host: j.duration_s for j in jobs})


@settings(max_examples=150, deadline=None)
@given(graphs(), st.integers(1, 4))
def test_priority1_first(graph, k) -> None:  # type: ignore[no-untyped-def]
    """Clinical priority first: the priority-1 services are never back later than with the
    textbook rule (list scheduling on effective priority) or the SRM-style groups, whatever
    that costs the less urgent services."""
    services, jobs = graph
    sim = simulate(services, jobs, k)
    _, srm_urgent = srm_baseline(services, jobs, k)
    assert sim.priority1_restored_s <= srm_urgent + EPS
    problem = Problem(services, jobs)
    rank = list_rank(problem)
    textbook_order = sorted(problem.hosts, key=lambda h: rank[problem.host_index[h]])
    textbook = drive(
        Scheduler(services, jobs, k, order=textbook_order), {j.host: j.duration_s for j in jobs}
    )
    done_at = restored_times(services, textbook)
    textbook_urgent = max((done_at[s.id] for s in services if s.priority == 1), default=0.0)
    assert sim.priority1_restored_s <= textbook_urgent + EPS


@settings(max_examples=100, deadline=None)
@given(graphs(), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_real_durations_may_differ(graph, k, seed) -> None:  # type: ignore[no-untyped-def]
    """The engine follows the plan online: with durations far from the estimates every host
    still runs once, within K, per-service limits and dependencies."""
    services, jobs = graph
    rng = random.Random(seed)
    actual = {j.host: j.duration_s * rng.uniform(0.2, 5.0) for j in jobs}
    scheduler = Scheduler(services, jobs, k)
    times = drive(scheduler, actual)
    assert scheduler.done()
    assert_feasible(services, jobs, times, k)


@settings(max_examples=100, deadline=None)
@given(graphs(), st.integers(1, 4), st.data())
def test_failure_blocks_exactly_the_transitive_dependents(graph, k, data) -> None:  # type: ignore[no-untyped-def]
    services, jobs = graph
    if not jobs:
        return
    failing = data.draw(st.sampled_from([j.host for j in jobs]))
    failed_service = next(j.service for j in jobs if j.host == failing)
    dependents: set[str] = set()
    frontier = {failed_service}
    while frontier:
        frontier = {s.id for s in services if set(s.depends_on) & frontier} - dependents
        dependents |= frontier
    scheduler = Scheduler(services, jobs, k)
    started: set[str] = set()
    while not scheduler.done():
        batch = scheduler.next_to_start()
        assert batch, "nothing runs, yet hosts are left that could run"
        for host in batch:
            scheduler.mark_started(host)
            started.add(host)
        for host in batch:
            scheduler.mark_finished(host, ok=host != failing)
    expected_blocked = {h for s in services if s.id in dependents for h in s.hosts}
    assert set(scheduler.blocked) == expected_blocked
    assert set(scheduler.blocked.values()) <= {failed_service}
    assert started == {j.host for j in jobs} - expected_blocked


def test_hostless_chain_is_counted_once_as_a_met_dependency() -> None:
    """Found by hypothesis in CI: a hostless service reached both by another hostless
    service's cascade and by the layer's own scan was released twice, so s3 counted as ready
    before s0's host had run: the simulation overlapped them at K=1, and the engine's planned
    order deadlocked."""
    services = [
        SchedService("s0", 1, 1, (), 1, ("s0h0",)),
        SchedService("s1", 1, 1, (), 1, ()),
        SchedService("s2", 1, 1, ("s1",), 1, ()),
        SchedService("s3", 1, 1, ("s0", "s1", "s2"), 1, ("s3h0",)),
    ]
    jobs = [SchedJob("s0h0", "s0", 1.0), SchedJob("s3h0", "s3", 2.0)]
    sim = simulate(services, jobs, 1)
    times = {t.host: (t.start_s, t.end_s) for t in sim.timeline}
    assert times == {"s0h0": (0.0, 1.0), "s3h0": (1.0, 3.0)}
    assert_feasible(services, jobs, times, 1)
    scheduler = Scheduler(services, jobs, 1)
    assert scheduler.next_to_start() == ["s0h0"]
