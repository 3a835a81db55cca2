"""The order contract (DESIGN §3), waves, critical path, --only and inherited urgency."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from restore.errors import InputError
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.planning.explain import start_order, why
from restore.planning.plan import RestorePlan, build_plan, effective_priorities, restore_order

from .graphs import service, write_graph, write_inventory


def make_plan(
    tmp: Path,
    services: list[dict[str, object]],
    groups: dict[str, list[str]] | None = None,
    **kwargs: object,
) -> RestorePlan:
    hosts = [h for s in services for h in s["hosts"] if not str(h).startswith("@")]  # type: ignore[attr-defined]
    graph = load_graph(write_graph(tmp, services))
    inventory = load_inventory(write_inventory(tmp, groups or {"all_hosts": hosts}))
    return build_plan(graph, inventory, **kwargs)  # type: ignore[arg-type]


def test_priority_inherited_through_several_levels(tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path,
        [
            service("storage", 5, ["st1"]),
            service("db", 4, ["db1"], ["storage"]),
            service("app", 3, ["app1"], ["db"]),
            service("lis", 1, ["lis1"], ["app"]),
            service("mail", 2, ["mail1"]),
        ],
    )
    by_id = {s.id: s for s in plan.services}
    assert by_id["storage"].effective_priority == 1
    assert by_id["storage"].inherited_from == "lis"
    assert by_id["db"].inherited_from == "lis"
    assert by_id["lis"].inherited_from is None
    assert by_id["mail"].effective_priority == 2
    # storage, db, app, lis all carry urgency 1: the whole chain before mail (priority 2).
    assert list(plan.order) == ["storage", "db", "app", "lis", "mail"]


def test_ties_broken_by_own_priority_then_position_in_the_file(tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path,
        [
            service("zeta", 1, ["z1"]),
            service("alpha", 1, ["a1"]),
            service("infra", 3, ["i1"]),
            service("lis", 1, ["l1"], ["infra"]),
        ],
    )
    # all effective 1; own priority 1 before infra's 3; then the file's order, not the alphabet
    assert list(plan.order) == ["zeta", "alpha", "infra", "lis"]


def test_file_order_decides_ties_in_the_start_order_and_the_urgency_source(
    tmp_path: Path,
) -> None:
    """The issue's case: two priority-1 services on one database, the laboratory written
    before the EHR. Alphabetically 'ehr' < 'lis'; the file says lis first, and so do the
    priority order, the scheduler's start order (one host at a time) and 'needed by'."""
    plan = make_plan(
        tmp_path,
        [
            service("db", 3, ["db1"]),
            service("lis", 1, ["lis1"], ["db"]),
            service("ehr", 1, ["ehr1"], ["db"]),
        ],
    )
    assert list(plan.order) == ["db", "lis", "ehr"]
    assert plan.service("db").inherited_from == "lis"
    sim = plan.simulations[0]
    assert [t.host for t in sim.timeline] == ["db1", "lis1", "ehr1"]
    assert start_order(plan, sim) == ("db", "lis", "ehr")
    assert why(plan, sim)["db"] == "needed by lis (priority 1)"
    swapped = make_plan(
        tmp_path,
        [
            service("db", 3, ["db1"]),
            service("ehr", 1, ["ehr1"], ["db"]),
            service("lis", 1, ["lis1"], ["db"]),
        ],
    )
    assert list(swapped.order) == ["db", "ehr", "lis"]
    assert start_order(swapped, swapped.simulations[0]) == ("db", "ehr", "lis")
    assert swapped.service("db").inherited_from == "ehr"


def test_restore_order_takes_file_positions_over_names() -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from(["b", "a", "c"])
    same = {"a": 1, "b": 1, "c": 1}
    assert restore_order(graph, same, same, {"b": 0, "a": 1, "c": 2}) == ["b", "a", "c"]
    assert restore_order(graph, same, same, {"c": 0, "a": 1, "b": 2}) == ["c", "a", "b"]
    assert restore_order(graph, same, same) == ["b", "a", "c"]  # the graph's own node order


def test_order_equals_networkx_lexicographic_sort_on_random_graphs() -> None:
    import random

    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(2, 30)
        graph = nx.DiGraph()
        names = [f"s{i:02d}" for i in range(n)]
        graph.add_nodes_from(names)
        for i in range(n):
            for j in range(i + 1, n):
                if rng.random() < 0.15:
                    graph.add_edge(names[i], names[j])
        priority = {s: rng.randint(0, 5) for s in names}
        eff = {s: value for s, (value, _) in effective_priorities(graph, priority).items()}
        for s in names:
            expected = min([priority[s]] + [priority[t] for t in nx.descendants(graph, s)])
            assert eff[s] == expected
        position = {s: rng.random() for s in names}  # a file order unrelated to the names
        order = restore_order(graph, priority, eff, position)
        assert order == list(
            nx.lexicographical_topological_sort(
                graph, key=lambda s: (eff[s], priority[s], position[s])
            )
        )


def test_groups_expand_in_inventory_order_and_hosts_follow_services(tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path,
        [service("ad", 3, ["dc2", "dc1"]), service("lab", 1, ["@analysers", "lis1"], ["ad"])],
        groups={"dcs": ["dc1", "dc2"], "analysers": ["mw3", "mw1", "mw2"], "apps": ["lis1"]},
    )
    assert list(plan.hosts_order) == ["dc2", "dc1", "mw3", "mw1", "mw2", "lis1"]


def test_unknown_host_and_group_suggest_nearest(tmp_path: Path) -> None:
    graph = load_graph(write_graph(tmp_path, [service("a", 1, ["lis01", "@analyzers"])]))
    inventory = load_inventory(write_inventory(tmp_path, {"analysers": ["lis1"]}))
    with pytest.raises(InputError) as info:
        build_plan(graph, inventory)
    text = str(info.value)
    assert "unknown host 'lis01'" in text and "did you mean 'lis1'" in text
    assert "unknown inventory group '@analyzers'" in text and "did you mean 'analysers'" in text


def test_host_in_two_services_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="host 'h1' is in two services"):
        make_plan(
            tmp_path, [service("a", 1, ["h1"]), service("b", 1, ["h1"])], groups={"g": ["h1"]}
        )


def test_waves_and_critical_path(tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path,
        [
            service("ad", 3, ["dc1"], steps=[{"check": None, "estimate": "1h"}]),
            service("dns", 3, ["ns1"], steps=[{"check": None, "estimate": "10m"}]),
            service("db", 2, ["db1"], ["ad"], steps=[{"check": None, "estimate": "2h"}]),
            service("lis", 1, ["lis1"], ["db", "dns"], steps=[{"check": None, "estimate": "30m"}]),
        ],
    )
    assert plan.waves() == [["ad", "dns"], ["db"], ["lis"]]
    assert list(plan.critical_path) == ["ad", "db", "lis"]
    assert plan.estimated_duration_s >= 3.5 * 3600


def test_only_keeps_service_and_what_it_needs(tmp_path: Path) -> None:
    services = [
        service("ad", 3, ["dc1"]),
        service("db", 2, ["db1"], ["ad"]),
        service("lis", 1, ["lis1"], ["db"]),
        service("mail", 4, ["m1"], ["ad"]),
    ]
    plan = make_plan(tmp_path, services, only="db")
    assert list(plan.order) == ["ad", "db"]
    assert plan.service("ad").effective_priority == 2  # lis is out of scope
    with pytest.raises(InputError, match="did you mean 'lis'"):
        make_plan(tmp_path, services, only="lys")


def test_step_estimate_overrides_default(tmp_path: Path) -> None:
    plan = make_plan(
        tmp_path,
        [
            service(
                "a",
                1,
                ["h1"],
                steps=[{"check": None, "estimate": "7m"}, {"ssh": "true", "estimate": "3m"}],
            )
        ],
    )
    assert plan.host("h1").duration_s == 600


def test_windows_platform_and_platform_filtered_steps(tmp_path: Path) -> None:
    graph = load_graph(
        write_graph(
            tmp_path,
            [
                service(
                    "mix",
                    1,
                    ["lin1", "win1"],
                    steps=[
                        "check",
                        {"ssh": "systemctl is-active app", "platform": "linux"},
                        {"winrm": "Get-Service App", "platform": "windows"},
                    ],
                )
            ],
        )
    )
    inventory = load_inventory(
        write_inventory(tmp_path, {"servers": ["lin1", "win1"]}, windows=("win1",))
    )
    plan = build_plan(graph, inventory)
    assert plan.host("win1").platform == "windows"
    assert [s.type.value for s in plan.host("win1").steps] == ["check", "winrm"]
    assert [s.type.value for s in plan.host("lin1").steps] == ["check", "ssh"]
