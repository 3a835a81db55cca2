"""`restore validate` and `restore plan` through typer's CliRunner: contracts and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from restore.cli.app import app

from .graphs import service, write_graph, write_inventory

ROOT = Path(__file__).resolve().parents[2]
HOSPITAL = ROOT / "dependency_graphs" / "hospital.yaml"
HOSPITAL_INV = ROOT / "inventory" / "hospital.yml"
runner = CliRunner()


def invoke(*args: str | Path, state: Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [*map(str, args), "--state-dir", str(state)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    graph = write_graph(
        tmp_path,
        [
            service("ad", 3, ["dc1"], steps=[{"check": None, "estimate": "1h"}]),
            service(
                "db",
                2,
                ["db1", "db2"],
                ["ad"],
                max_parallel=2,
                steps=[{"check": None, "estimate": "30m"}],
            ),
            service("lis", 1, ["lis1"], ["db"], steps=[{"check": None, "estimate": "20m"}]),
            service("mail", 4, ["m1"], ["ad"], steps=[{"check": None, "estimate": "10m"}]),
        ],
    )
    return graph, write_inventory(tmp_path, {"servers": ["dc1", "db1", "db2", "lis1", "m1"]})


def test_hospital_plan_json_follows_order_contract(tmp_path: Path) -> None:
    code, out, _ = invoke("plan", HOSPITAL, "-i", HOSPITAL_INV, "--format", "json", state=tmp_path)
    assert code == 0
    data = json.loads(out)
    services = {s["id"]: s for s in data["services"]}
    assert len(services) >= 12 and len(data["hosts_order"]) >= 25
    # clinical core first: every priority-1 service's needs come before the first priority-2 one
    first_non_urgent = min(
        i for i, sid in enumerate(data["order"]) if services[sid]["effective_priority"] > 1
    )
    for sid in data["order"][:first_non_urgent]:
        assert services[sid]["effective_priority"] == 1
    assert services["db-pg"]["effective_priority"] == 1 and services["db-pg"]["inherited_from"]
    position = {sid: i for i, sid in enumerate(data["order"])}
    for s in data["services"]:
        for dep in s["depends_on"]:
            assert position[dep] < position[s["id"]]
    for key in ("critical_path", "estimated_duration_s", "simulation"):
        assert key in data
    sim = data["simulation"]
    for key in (
        "max_parallel",
        "makespan_s",
        "lower_bound_s",
        "priority1_restored_s",
        "priority1_lower_bound_s",
        "services",
        "timeline",
    ):
        assert key in sim


def test_validate_ok_and_json(small: tuple[Path, Path], tmp_path: Path) -> None:
    graph, inv = small
    code, out, _ = invoke("validate", graph, "-i", inv, "--format", "json", state=tmp_path)
    assert code == 0 and json.loads(out) == {
        "valid": True,
        "graph": str(graph),
        "services": 4,
        "hosts": 5,
    }


def test_validate_refuses_unknown_host_with_exit_2(
    small: tuple[Path, Path], tmp_path: Path
) -> None:
    graph, _ = small
    inv = write_inventory(tmp_path, {"servers": ["dc1", "db1", "db2", "lis1"]})
    code, out, err = invoke("validate", graph, "-i", inv, state=tmp_path)
    assert code == 2 and out == ""
    assert "unknown host 'm1'" in err and "Traceback" not in err


def test_plan_json_several_parallelisms(small: tuple[Path, Path], tmp_path: Path) -> None:
    graph, inv = small
    code, out, _ = invoke(
        "plan", graph, "-i", inv, "--format", "json", "--max-parallel", "1,4", state=tmp_path
    )
    assert code == 0
    sims = json.loads(out)["simulation"]
    assert [s["max_parallel"] for s in sims] == [1, 4]
    assert sims[1]["makespan_s"] <= sims[0]["makespan_s"]


@pytest.mark.parametrize("bad", ["0", "two", "1,,x", "-3"])
def test_plan_bad_parallelism(small: tuple[Path, Path], tmp_path: Path, bad: str) -> None:
    graph, inv = small
    code, _, err = invoke("plan", graph, "-i", inv, "--max-parallel", bad, state=tmp_path)
    assert code == 2 and "--max-parallel" in err


def test_plan_formats(small: tuple[Path, Path], tmp_path: Path) -> None:
    graph, inv = small
    _, dot, _ = invoke("plan", graph, "-i", inv, "--format", "dot", state=tmp_path)
    assert dot.startswith("digraph") and '"ad" -> "db";' in dot
    _, mermaid, _ = invoke("plan", graph, "-i", inv, "--format", "mermaid", state=tmp_path)
    assert mermaid.startswith("flowchart LR") and "s_ad --> s_db" in mermaid
    _, markdown, _ = invoke("plan", graph, "-i", inv, "--format", "markdown", state=tmp_path)
    assert markdown.startswith("# Recovery runbook") and "Initials" in markdown
    assert markdown.index("### 1. ad") < markdown.index("### 2. db") < markdown.index("### 3. lis")
    code, table, _ = invoke("plan", graph, "-i", inv, state=tmp_path)
    assert code == 0 and "critical path" in table and "lis" in table


def test_plan_only(small: tuple[Path, Path], tmp_path: Path) -> None:
    graph, inv = small
    code, out, _ = invoke(
        "plan", graph, "-i", inv, "--only", "lis", "--format", "json", state=tmp_path
    )
    assert code == 0 and json.loads(out)["order"] == ["ad", "db", "lis"]


def test_usage_error_is_exit_2(tmp_path: Path) -> None:
    code, _, _ = invoke("plan", state=tmp_path)
    assert code == 2


def test_missing_graph_file_exit_2(small: tuple[Path, Path], tmp_path: Path) -> None:
    _, inv = small
    code, _, err = invoke("plan", tmp_path / "nope.yaml", "-i", inv, state=tmp_path)
    assert code == 2 and "file not found" in err


def test_repeated_plan_uses_cache_until_an_input_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "rebuild.yml").write_text("- hosts: all\n  tasks: []\n")
    graph = write_graph(tmp_path, [service("a", 1, ["h1"], steps=[{"ansible": "rebuild.yml"}])])
    inv = write_inventory(tmp_path, {"g": ["h1"]})
    state = tmp_path / "state"
    assert invoke("plan", graph, "-i", inv, "--format", "json", state=state)[0] == 0
    # JSON in the user's private cache folder, never a pickle, never in the state dir.
    assert len(list((tmp_path / "xdg" / "restore").glob("plan-*.json"))) == 1
    assert (tmp_path / "xdg" / "restore").stat().st_mode & 0o777 == 0o700
    assert not state.exists()  # validate/plan write nothing under the state dir either
    graph.write_text(graph.read_text().replace("priority: 1", "priority: 2"))
    code, out, _ = invoke("plan", graph, "-i", inv, "--format", "json", state=state)
    assert code == 0 and json.loads(out)["services"][0]["priority"] == 2
    (tmp_path / "rebuild.yml").unlink()
    code, _, err = invoke("plan", graph, "-i", inv, state=state)
    assert code == 2 and "rebuild.yml" in err


def test_a_plan_of_several_inventories_is_cached_on_all_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = tmp_path / "xdg" / "restore"
    graph = write_graph(tmp_path, [service("a", 1, ["@clinic"], steps=["check"])])
    hosts = tmp_path / "hosts.ini"
    hosts.write_text("h1 ansible_host=127.0.0.1\nh2 ansible_host=127.0.0.2\n")
    groups = tmp_path / "groups.ini"
    groups.write_text("[clinic]\nh1\n")
    both = ("-i", hosts, "-i", groups)

    def plan(*inventories: str | Path) -> tuple[list[str], set[str]]:
        code, out, err = invoke("plan", graph, *inventories, "--format", "json", state=tmp_path)
        assert code == 0, err
        return json.loads(out)["hosts_order"], {p.name for p in cache.glob("plan-*.json")}

    order, (first,) = plan(*both)
    assert order == ["h1"]
    written = (cache / first).stat().st_mtime_ns
    assert plan(*both) == (["h1"], {first})
    assert (cache / first).stat().st_mtime_ns == written  # read back, not computed again
    assert plan("-i", groups, "-i", hosts)[1] != {first}  # the order is part of the key
    groups.write_text("[clinic]\nh1\nh2\n")  # the second file changes the plan: so the key
    order, names = plan(*both)
    assert order == ["h1", "h2"] and first not in names
