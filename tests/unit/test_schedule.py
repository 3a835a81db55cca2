"""The one scheduler: bounds, events, failures, determinism, and simulate() == Scheduler."""

from __future__ import annotations

import heapq

import pytest

from restore.planning.plan import effective_priority_values
from restore.planning.scheduling import (
    SchedJob,
    SchedService,
    Scheduler,
    Simulation,
    chain_lower_bounds,
    simulate,
)


def svc(
    sid: str, priority: int, deps: tuple[str, ...] = (), hosts: int = 1, parallel: int = 1
) -> SchedService:
    names = tuple(f"{sid}{i}" for i in range(1, hosts + 1))
    return SchedService(sid, priority, priority, deps, parallel, names)


def with_effective(services: list[SchedService]) -> list[SchedService]:
    eff = effective_priority_values(
        {s.id: s.priority for s in services}, {s.id: s.depends_on for s in services}
    )
    return [
        SchedService(s.id, s.priority, eff[s.id], s.depends_on, s.max_parallel, s.hosts)
        for s in services
    ]


def jobs_of(services: list[SchedService], durations: dict[str, float]) -> list[SchedJob]:
    return [SchedJob(h, s.id, durations[h]) for s in services for h in s.hosts]


def drive(scheduler: Scheduler, durations: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Run the public API with the given durations: host -> (start, end)."""
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


# -- lower bounds on hand-made graphs --------------------------------------------------------


def test_lower_bounds_chain_and_work() -> None:
    # ad(2 hosts, 1 at a time: 10+20) <- db(40) <- lis(5, priority 1); mail(100) alone
    services = with_effective(
        [
            svc("ad", 3, hosts=2),
            svc("db", 4, ("ad",)),
            svc("lis", 1, ("db",)),
            svc("mail", 5),
        ]
    )
    durations = {"ad1": 10, "ad2": 20, "db1": 40, "lis1": 5, "mail1": 100}
    jobs = jobs_of(services, durations)
    assert chain_lower_bounds(services, jobs) == {"ad": 30, "db": 70, "lis": 75, "mail": 100}
    one = simulate(services, jobs, 1)
    assert one.lower_bound_s == 175  # total work / 1
    assert one.priority1_lower_bound_s == 75  # lis needs ad and db: 75 of work, and chain 75
    two = simulate(services, jobs, 2)
    assert two.lower_bound_s == 100  # mail's own chain beats 175 / 2
    assert two.priority1_lower_bound_s == 75  # the chain beats 75 / 2
    assert {s.id: s.lower_bound_s for s in two.services}["db"] == 70
    assert two.makespan_s == 100 and two.priority1_restored_s == 75  # both bounds reached


def test_lower_bound_counts_service_parallelism() -> None:
    services = with_effective([svc("ws", 1, hosts=4, parallel=2)])
    jobs = jobs_of(services, {"ws1": 10, "ws2": 10, "ws3": 10, "ws4": 30})
    assert chain_lower_bounds(services, jobs) == {"ws": 30}  # max(30, 60 / 2)
    sim = simulate(services, jobs, 8)
    assert sim.lower_bound_s == 30 and sim.makespan_s == 30  # longest host first


def test_no_priority1_service_gives_zero_figures() -> None:
    services = with_effective([svc("a", 2), svc("b", 3, ("a",))])
    sim = simulate(services, jobs_of(services, {"a1": 5, "b1": 5}), 2)
    assert sim.priority1_restored_s == 0 and sim.priority1_lower_bound_s == 0
    assert sim.makespan_s == 10


# -- the priority rule -----------------------------------------------------------------------


def test_less_urgent_work_waits_when_it_would_delay_priority1() -> None:
    # K=2. lis (p1) needs db (10 min); a 4 h report job (p5) is ready at once. Work-conserving
    # list scheduling starts the report in the free slot at t=0, and the second lis host then
    # waits for it; the scheduler keeps that slot for lis.
    services = with_effective(
        [svc("db", 3), svc("lis", 1, ("db",), hosts=2, parallel=2), svc("report", 5)]
    )
    durations = {"db1": 600, "lis1": 600, "lis2": 600, "report1": 14400}
    jobs = jobs_of(services, durations)
    sim = simulate(services, jobs, 2)
    assert sim.priority1_restored_s == 1200 == sim.priority1_lower_bound_s
    textbook = Scheduler(services, jobs, 2, order=["db1", "report1", "lis1", "lis2"])
    timeline = drive(textbook, durations)
    assert max(timeline["lis1"][1], timeline["lis2"][1]) > 1200


def test_dependency_inherits_urgency() -> None:
    services = with_effective([svc("db", 5), svc("lis", 1, ("db",)), svc("mail", 2)])
    assert {s.id: s.effective_priority for s in services} == {"db": 1, "lis": 1, "mail": 2}
    sched = Scheduler(services, jobs_of(services, {"db1": 60, "lis1": 60, "mail1": 60}), 1)
    assert sched.next_to_start() == ["db1"]


# -- capacity ---------------------------------------------------------------------------------


def test_global_and_per_service_limits() -> None:
    services = with_effective([svc("ws", 2, hosts=6, parallel=2), svc("a", 1), svc("b", 3)])
    durations = {h: 60.0 for s in services for h in s.hosts}
    sched = Scheduler(services, jobs_of(services, durations), 3)
    first = sched.next_to_start()
    assert len(first) == 3
    assert sum(h.startswith("ws") for h in first) <= 2
    for host in first:
        sched.mark_started(host)
    assert sched.next_to_start() == []  # K reached


# -- failures and waivers ---------------------------------------------------------------------


def _hospital() -> tuple[list[SchedService], dict[str, float]]:
    services = with_effective(
        [
            svc("ad", 2),
            svc("db", 2, ("ad",)),
            svc("lis", 1, ("db",)),
            svc("ris", 1, ("lis",)),
            svc("mail", 3, ("ad",)),
            svc("print", 4),
        ]
    )
    return services, {h: 60.0 for s in services for h in s.hosts}


def test_failure_blocks_transitive_dependents_only() -> None:
    services, durations = _hospital()
    sched = Scheduler(services, jobs_of(services, durations), 2)
    started: list[str] = []
    while not sched.done():
        batch = sched.next_to_start()
        for host in batch:
            sched.mark_started(host)
            started.append(host)
        for host in batch:
            sched.mark_finished(host, ok=host != "db1")
    assert sched.blocked == {"lis1": "db", "ris1": "db"}
    assert set(started) == {"ad1", "db1", "mail1", "print1"}  # independent branches went on


def test_skip_counts_as_done_for_dependents() -> None:
    services, durations = _hospital()
    sched = Scheduler(services, jobs_of(services, durations), 1)
    assert sched.next_to_start() == ["ad1"]
    sched.mark_skipped("ad1")  # waived before it even started
    assert sched.next_to_start() == ["db1"]
    sched.mark_started("db1")
    sched.mark_skipped("db1")
    assert sched.service_restored("db")
    assert sched.next_to_start() == ["lis1"]
    assert sched.blocked == {}


def test_unknown_host_is_a_clear_error() -> None:
    services, durations = _hospital()
    sched = Scheduler(services, jobs_of(services, durations), 1)
    with pytest.raises(ValueError, match="unknown host"):
        sched.mark_started("nope")


# -- determinism and the shared code path -----------------------------------------------------


def test_deterministic() -> None:
    services, durations = _hospital()
    jobs = jobs_of(services, durations)
    assert Scheduler(services, jobs, 2).order == Scheduler(services, jobs, 2).order
    assert simulate(services, jobs, 2) == simulate(services, jobs, 2)


def test_simulate_equals_driving_the_scheduler() -> None:
    services, durations = _hospital()
    durations = {h: 60.0 * (i + 1) for i, h in enumerate(durations)}
    jobs = jobs_of(services, durations)
    sim = simulate(services, jobs, 2)
    driven = drive(Scheduler(services, jobs, 2), durations)
    assert {t.host: (t.start_s, t.end_s) for t in sim.timeline} == driven


def test_json_shape() -> None:
    services, durations = _hospital()
    data = simulate(services, jobs_of(services, durations), 2).to_json()
    assert set(data) == {
        "max_parallel",
        "makespan_s",
        "lower_bound_s",
        "priority1_restored_s",
        "priority1_lower_bound_s",
        "services",
        "timeline",
    }
    assert set(data["services"][0]) == {"id", "restored_s", "lower_bound_s"}
    assert set(data["timeline"][0]) == {"host", "service", "start_s", "end_s"}
    assert isinstance(simulate(services, [], 1), Simulation)


def test_bad_max_parallel() -> None:
    services, durations = _hospital()
    with pytest.raises(ValueError):
        Scheduler(services, jobs_of(services, durations), 0)
