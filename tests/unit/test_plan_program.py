"""The crisis cell's view of a plan, through the real `restore` program (a subprocess).

RTO at risk (table, Markdown, HTML, JSON, --check-rto), the start order and its reasons,
several `-i` merged as Ansible merges them, every graph problem at once and each printed once,
and planning commands that write nothing in the folder they run from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .graphs import service, write_graph

ROOT = Path(__file__).resolve().parents[2]
HOSPITAL = ROOT / "dependency_graphs" / "hospital.yaml"
HOSPITAL_INV = ROOT / "inventory" / "hospital.yml"
PROGRAM = str(Path(sys.executable).parent / "restore")


def restore(
    *args: str | Path, cwd: Path, cache: Path, state: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real program with its own user cache folder; no --state-dir unless given, so
    that the default (./.restore) is what is exercised."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "COLUMNS": "250"}
    env.pop("RESTORE_STATE_DIR", None)
    extra = ["--state-dir", str(state)] if state is not None else []
    return subprocess.run(
        [PROGRAM, *map(str, args), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="module")
def hospital_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    where = tmp_path_factory.mktemp("hospital")
    done = restore(
        "plan", HOSPITAL, "-i", HOSPITAL_INV, "--format", "json", cwd=where, cache=where / "c"
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_hospital_lis_is_projected_past_its_rto_at_one_host_at_once(
    hospital_json: dict[str, Any],
) -> None:
    data = hospital_json
    sim = data["simulation"]
    restored = {s["id"]: s["restored_s"] for s in sim["services"]}
    services = {s["id"]: s for s in data["services"]}
    risks = {r["id"]: r for r in sim["rto_at_risk"]}
    # The example hospital at the default --max-parallel 1: the LIS (RTO 12h) comes back after
    # 12h28m, behind the chain hypervisor -> dns -> hl7 -> lis.
    lis = risks["lis"]
    assert lis["rto_s"] == 12 * 3600 == services["lis"]["rto_s"]
    assert lis["projected_s"] == restored["lis"] == 12 * 3600 + 28 * 60
    assert lis["late_by_s"] == lis["projected_s"] - lis["rto_s"]
    assert lis["critical_path"][0] == "hypervisor" and lis["critical_path"][-1] == "lis"
    assert lis["max_parallel"] == 1
    # exactly the services whose projection exceeds their RTO, no more, no fewer
    expected = {
        sid
        for sid, svc in services.items()
        if svc["rto_s"] is not None and restored[sid] > svc["rto_s"]
    }
    assert set(risks) == expected and "directory" not in expected
    for sid, svc in services.items():
        assert svc["rto_at_risk"] is (sid in expected)
    assert data["rto_at_risk"] == sim["rto_at_risk"]
    assert data["rto_clock"]["counted_from"] == "run_start"
    assert data["rto_clock"]["already_spent_s"] == 0
    assert data["rto_clock"]["incident_declared_at"].startswith("2026-11-20")


def test_hospital_start_order_is_the_simulated_one_and_explained(
    hospital_json: dict[str, Any],
) -> None:
    data = hospital_json
    sim = data["simulation"]
    timeline = sim["timeline"]
    assert data["hosts_start_order"] == [t["host"] for t in timeline]
    starts = [t["start_s"] for t in timeline]
    assert starts == sorted(starts)
    first_start: dict[str, float] = {}
    for t in timeline:
        first_start.setdefault(t["service"], t["start_s"])
    order = data["start_order"]
    assert isinstance(order, list) and sorted(order) == sorted(data["order"])
    assert [first_start[s] for s in order] == sorted(first_start[s] for s in order)
    # the complaint: PostgreSQL is restored before SQL Server and the EHR, and the
    # '#' (start_position) says so
    services = {s["id"]: s for s in data["services"]}
    assert order.index("db-pg") < order.index("db-mssql")
    assert order.index("db-pg") < order.index("ehr")
    for position, sid in enumerate(order, 1):
        assert services[sid]["start_position"] == position
    assert services["db-pg"]["why"].startswith("needed by lis (priority 1)")
    assert services["hypervisor"]["why"].startswith("needed by lis (priority 1) through")
    assert services["intranet"]["why"].startswith("priority 5")


def test_check_rto_exit_codes_and_every_rendering_marks_the_risk(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    base = ("plan", HOSPITAL, "-i", HOSPITAL_INV)
    at_risk = restore(*base, "--check-rto", cwd=tmp_path, cache=cache)
    assert at_risk.returncode == 1, at_risk.stderr
    assert "AT RISK" in at_risk.stdout and "RTO at risk with 1 host(s) at once" in at_risk.stdout
    assert "lis: back after 12h28m against an RTO of 12h00m" in at_risk.stdout
    assert "projected to miss their RTO" in at_risk.stderr
    # four hands: every RTO of the example is met, and --check-rto passes
    enough = restore(*base, "--check-rto", "--max-parallel", "4", cwd=tmp_path, cache=cache)
    assert enough.returncode == 0, enough.stderr
    assert "every RTO met with 4 host(s) at once" in enough.stdout
    # several K: fails when any simulation misses, and says which K
    both = restore(
        *base, "--check-rto", "--max-parallel", "4,1", "--format", "json", cwd=tmp_path, cache=cache
    )
    assert both.returncode == 1
    data = json.loads(both.stdout)  # JSON alone on stdout, even when failing the check
    assert data["simulation"][0]["rto_at_risk"] == []  # K=4 first
    assert {r["max_parallel"] for r in data["rto_at_risk"]} == {1}
    # without --check-rto a projected miss is not a failure
    assert restore(*base, cwd=tmp_path, cache=cache).returncode == 0
    markdown = restore(*base, "--format", "markdown", cwd=tmp_path, cache=cache).stdout
    assert "## RTO at risk with 1 host(s) at once" in markdown
    assert "- **AT RISK** lis: back after 12h28m" in markdown
    assert "| 12h00m **AT RISK** |" in markdown
    html = restore(*base, "--format", "html", cwd=tmp_path, cache=cache).stdout
    assert "AT RISK" in html and "RTO at risk" in html


def test_runbook_sections_follow_the_start_order(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = json.loads(
        restore(
            "plan", HOSPITAL, "-i", HOSPITAL_INV, "--format", "json", cwd=tmp_path, cache=cache
        ).stdout
    )
    markdown = restore(
        "plan", HOSPITAL, "-i", HOSPITAL_INV, "--format", "markdown", cwd=tmp_path, cache=cache
    ).stdout
    sections = [
        line.split("(`", 1)[1].split("`)", 1)[0]
        for line in markdown.splitlines()
        if line.startswith("### ")
    ]
    assert sections == data["start_order"]
    assert "Priority order (most urgent first; ties in the graph file's order)" in markdown


def test_ties_follow_the_graph_file_not_the_alphabet(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text("[servers]\ndb1\nlis1\nehr1\n")
    graph = write_graph(
        tmp_path,
        [
            service("db", 3, ["db1"]),
            service("lis", 1, ["lis1"], ["db"]),
            service("ehr", 1, ["ehr1"], ["db"]),
        ],
    )
    done = restore(
        "plan", graph, "-i", "inv.ini", "--format", "json", cwd=tmp_path, cache=tmp_path / "c"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["order"] == data["start_order"] == ["db", "lis", "ehr"]
    assert data["hosts_order"] == data["hosts_start_order"] == ["db1", "lis1", "ehr1"]
    assert data["services"][0]["why"] == "needed by lis (priority 1)"


def test_from_incident_counts_the_time_already_spent(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text("[servers]\ndb1\n")
    declared = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    graph = write_graph(
        tmp_path,
        [service("db", 1, ["db1"], rto="1h", steps=[{"check": None, "estimate": "30m"}])],
        incident={"declared_at": declared},
    )
    cache = tmp_path / "c"
    plain = restore("plan", graph, "-i", "inv.ini", "--format", "json", cwd=tmp_path, cache=cache)
    data = json.loads(plain.stdout)
    assert data["rto_at_risk"] == []  # 30m from the run's start, against 1h
    assert data["rto_clock"]["incident_elapsed_s"] >= 2 * 3600
    counted = restore(
        "plan", graph, "-i", "inv.ini", "--from-incident", "--check-rto", cwd=tmp_path, cache=cache
    )
    assert counted.returncode == 1  # two hours already spent: the 1h RTO is gone
    assert "already spent" in counted.stdout and "AT RISK" in counted.stdout
    table = restore("plan", graph, "-i", "inv.ini", cwd=tmp_path, cache=cache)
    assert "do NOT include that time; add --from-incident" in table.stdout.replace("\n", " ")
    no_incident = write_graph(tmp_path, [service("db", 1, ["db1"], rto="1h")])
    refused = restore(
        "plan", no_incident, "-i", "inv.ini", "--from-incident", cwd=tmp_path, cache=cache
    )
    assert refused.returncode == 2 and "incident.declared_at" in refused.stderr


def _two_file_inventory(folder: Path) -> tuple[Path, Path]:
    """Groups in one file, addresses in the other, as a public AD lab ships them."""
    folder.mkdir()
    groups = folder / "groups.ini"
    groups.write_text(
        "[parent_dc]\ndc01\n\n[child_dc]\ndc02\n\n[dc:children]\nparent_dc\nchild_dc\n\n"
        "[mssql]\nsrv02\n"
    )
    provider = folder / "provider.ini"
    provider.write_text(
        "[default]\ndc01 ansible_host=dc01.lab.test\ndc02 ansible_host=dc02.lab.test\n"
        "srv02 ansible_host=srv02.lab.test ansible_connection=winrm\n"
    )
    return groups, provider


def test_several_inventories_merge_as_ansible_merges_them(tmp_path: Path) -> None:
    groups, provider = _two_file_inventory(tmp_path / "inv")
    graph = write_graph(
        tmp_path,
        [
            service("ad", 1, ["@parent_dc", "@child_dc"]),
            service("sql", 2, ["@mssql"], ["ad"]),
        ],
    )
    cache = tmp_path / "c"
    ok = restore("validate", graph, "-i", groups, "-i", provider, cwd=tmp_path, cache=cache)
    assert ok.returncode == 0, ok.stderr
    done = restore(
        "plan", graph, "-i", groups, "-i", provider, "--format", "json", cwd=tmp_path, cache=cache
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["hosts_order"] == ["dc01", "dc02", "srv02"]
    assert {h["host"]: h["platform"] for h in data["hosts"]}["srv02"] == "windows"
    # what ansible-core itself makes of the same two sources
    listed = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-inventory"),
            "-i",
            str(groups),
            "-i",
            str(provider),
            "--list",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    ansible = json.loads(listed.stdout)
    assert ansible["parent_dc"]["hosts"] == ["dc01"]
    assert ansible["_meta"]["hostvars"]["dc01"]["ansible_host"] == "dc01.lab.test"
    # one file alone still names the missing group, and the error says which inventory it read
    alone = restore("validate", graph, "-i", provider, cwd=tmp_path, cache=cache)
    assert alone.returncode == 2
    assert "unknown inventory group '@parent_dc'" in alone.stderr


def test_every_graph_problem_at_once_each_printed_once(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text("[servers]\ndc01\ndb01\nlis01\n")
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "version: 1\nname: Three problems\nservices:\n"
        "  - id: ad\n    priority: high\n    hosts: [dc01]\n"
        "  - id: db\n    priority: 2\n    hosts: [db01]\n    rto: 8 hours\n"
        "  - id: lis\n    priority: 1\n    hosts: [lis01]\n    depends_on: [ad, dbb]\n"
    )
    done = restore("validate", graph, "-i", "inv.ini", cwd=tmp_path, cache=tmp_path / "c")
    assert done.returncode == 2 and done.stdout == ""
    problems = [
        "graph.yaml:5, service 'ad', key 'priority': priority 'high' is not an integer",
        "graph.yaml:10, service 'db', key 'rto': bad duration '8 hours'",
        "graph.yaml:14, service 'lis', key 'depends_on': unknown dependency 'dbb' "
        "(did you mean 'db'?)",
    ]
    for problem in problems:
        assert done.stderr.count(problem) == 1, done.stderr
    assert "3 problems" in done.stderr
    assert done.stderr.count("error:") == 1
    assert "Traceback" not in done.stderr


def test_an_inventory_parse_failure_is_printed_once(tmp_path: Path) -> None:
    (tmp_path / "bad.ini").write_text("[dc\ndc01\n")
    for command in (("check", "-i", "bad.ini"), ("validate", "g.yaml", "-i", "bad.ini")):
        if command[0] == "validate":
            write_graph(tmp_path, [service("ad", 1, ["dc01"])]).rename(tmp_path / "g.yaml")
        done = restore(*command, cwd=tmp_path, cache=tmp_path / "c", state=tmp_path / "s")
        assert done.returncode == 2, done.stderr
        assert "[WARNING]" not in done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("error: bad.ini: cannot parse inventory:")
        assert lines[0].count("Failed to parse") == 1


def test_validate_and_plan_write_nothing_in_the_working_folder(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "inv.ini").write_text("[servers]\ndb1\nlis1\n")
    graph = write_graph(inputs, [service("db", 3, ["db1"]), service("lis", 1, ["lis1"], ["db"])])
    clean = tmp_path / "clean"
    clean.mkdir()
    cache = tmp_path / "user-cache"
    for args in (
        ("validate", graph, "-i", inputs / "inv.ini"),
        ("plan", graph, "-i", inputs / "inv.ini"),
        ("plan", graph, "-i", inputs / "inv.ini", "--format", "markdown"),
        ("plan", graph, "-i", inputs / "inv.ini", "--format", "json", "--max-parallel", "1,2"),
    ):
        done = restore(*args, cwd=clean, cache=cache)
        assert done.returncode == 0, done.stderr
        assert list(clean.iterdir()) == []
    assert sorted(p.name for p in inputs.iterdir()) == ["graph.yaml", "inv.ini"]
    # the caches went to the user's cache folder, private to its owner
    assert (cache / "restore").is_dir()
    assert (cache / "restore").stat().st_mode & 0o777 == 0o700
