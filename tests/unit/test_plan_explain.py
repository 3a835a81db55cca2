"""Start order, reasons and RTO risks computed from a plan (restore.planning.explain)."""

from __future__ import annotations

from pathlib import Path

from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.planning.explain import (
    RtoClock,
    explained_json,
    rto_risks,
    simulated_path,
    start_order,
    why,
)
from restore.planning.plan import RestorePlan, build_plan

from .graphs import service, write_graph, write_inventory


def _plan(tmp: Path, *k: int) -> RestorePlan:
    """a (1h) is needed by b (priority 1, 1h, RTO 1h30m); c (priority 2, 2h, RTO 3h) stands
    alone."""
    graph = write_graph(
        tmp,
        [
            service("a", 3, ["a1"], steps=[{"check": None, "estimate": "1h"}]),
            service("b", 1, ["b1"], ["a"], rto="1h30m", steps=[{"check": None, "estimate": "1h"}]),
            service("c", 2, ["c1"], rto="3h", steps=[{"check": None, "estimate": "2h"}]),
        ],
    )
    inventory = write_inventory(tmp, {"servers": ["a1", "b1", "c1"]})
    return build_plan(load_graph(graph), load_inventory(inventory), max_parallel=k)


def test_one_host_at_a_time(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 1)
    sim = plan.simulations[0]
    assert start_order(plan, sim) == ("a", "b", "c")
    reasons = why(plan, sim)
    assert reasons["a"] == "needed by b (priority 1)"
    assert reasons["b"] == "priority 1; starts once a is back (1h00m)"
    assert reasons["c"] == "priority 2; then waits 2h00m for a free slot"
    risks = {r.id: r for r in rto_risks(plan, sim)}
    assert set(risks) == {"b", "c"}
    b, c = risks["b"], risks["c"]
    assert (b.projected_s, b.rto_s, b.late_by_s) == (7200, 5400, 1800)
    assert b.critical_path == ("a", "b") == simulated_path(plan, sim, "b")
    assert not b.more_hands_help  # the chain a -> b alone takes 2h > 1h30m
    assert "even with unlimited hosts at once the chain takes 2h00m" in b.sentence()
    assert (c.projected_s, c.critical_path) == (4 * 3600, ("c",))
    assert c.more_hands_help  # alone it takes 2h < 3h: it waited for hands


def test_two_hosts_at_once_meet_what_hands_can_fix(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 2, 1)
    two, one = plan.simulations
    assert [r.id for r in rto_risks(plan, two)] == ["b"]
    assert [r.id for r in rto_risks(plan, one)] == ["b", "c"]
    data = explained_json(plan, RtoClock("run_start"))
    assert [s["rto_at_risk"] for s in data["simulation"]] == [
        [r.to_json() for r in rto_risks(plan, two)],
        [r.to_json() for r in rto_risks(plan, one)],
    ]
    assert [(r["id"], r["max_parallel"]) for r in data["rto_at_risk"]] == [
        ("b", 2),
        ("b", 1),
        ("c", 1),
    ]
    flags = {s["id"]: s["rto_at_risk"] for s in data["services"]}
    assert flags == {"a": False, "b": True, "c": True}  # at risk at any K given
    assert data["start_order"] == list(start_order(plan, two))
    # the DESIGN §4 keys are all still there
    for key in ("order", "hosts_order", "services", "critical_path", "estimated_duration_s"):
        assert key in data


def test_time_already_spent_is_added(tmp_path: Path) -> None:
    plan = _plan(tmp_path, 2)
    sim = plan.simulations[0]
    late = {r.id: r for r in rto_risks(plan, sim, already_spent_s=3600)}
    assert set(late) == {"b"}  # c: 1h spent + 2h = 3h, exactly its RTO: met
    assert late["b"].projected_s == 3600 + 7200
    clock = RtoClock("incident", 3600, "2026-11-20T01:30:00+01:00", 3600)
    assert "1h00m already spent" in (clock.note() or "")
    assert RtoClock("run_start").note() is None
