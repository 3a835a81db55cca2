"""The journal is the only source after the start: a finished run's report, step keys and host
endings come from its `run_started` row and events, never from the graph file again.

Runs go through the real engine on hosts reached by the local transport (tests.unit.test_engine).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from restore.execution.engine import RunResult
from restore.execution.journal import Journal
from restore.execution.run_snapshot import inventory_fingerprint, snapshot
from restore.execution.run_state import replay
from restore.reporting.build import report_for_run
from tests.unit.test_engine import _run, _states

SERVICES = [
    {"id": "db", "name": "Database", "priority": 2, "hosts": ["db1"], "rto": "4h",
     "steps": ["check", {"ssh": "true", "name": "ping"}]},
    {"id": "app", "name": "Application", "priority": 1, "hosts": ["app1"], "rto": "8h",
     "depends_on": ["db"], "steps": ["check", "reconnect"]},
]  # fmt: skip


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, RunResult, Journal]]:
    """One finished run shared by the tests of this module (they only read it, except the
    last, which puts the graph file back as it found it)."""
    tmp = tmp_path_factory.mktemp("snapshot")
    result, journal = _run(tmp, SERVICES, ["db1", "app1"])
    yield tmp, result, journal
    journal.close()


def test_run_started_keeps_the_graph_the_plan_and_the_inventory_fingerprint(
    finished: tuple[Path, RunResult, Journal],
) -> None:
    tmp_path, result, journal = finished
    events = journal.events(result.run_id)
    started = next(e for e in events if e.event == "run_started").detail
    document = started["graph_document"]
    assert [s["id"] for s in document["services"]] == ["db", "app"]
    assert document["services"][0]["rto_s"] == 4 * 3600.0
    assert document["services"][0]["steps"][1] == {
        "type": "ssh",
        "argument": "true",
        "name": "ping",
        "timeout_s": None,
        "retries": 0,
        "estimate_s": None,
        "platform": None,
        "idempotent": True,
        "vars": {},
    }
    assert started["inventory_sha256"] == inventory_fingerprint(str(tmp_path / "inventory.yml"))
    assert started["hosts"][0]["steps"][1] == {
        "key": "2:ping",
        "type": "ssh",
        "label": "ping",
        "idempotent": True,
    }
    snap = snapshot(events)
    assert snap is not None and snap.complete
    assert snap.step_keys == {"db1": ("1:check", "2:ping"), "app1": ("1:check", "2:reconnect")}
    assert Path(snap.graph_path).is_absolute()


def test_a_host_whose_steps_all_succeed_without_reconnect_ends_restored(
    finished: tuple[Path, RunResult, Journal],
) -> None:
    tmp_path, result, journal = finished
    assert _states(result) == {"db1": "restored", "app1": "reconnected"}
    assert {h: r.state for h, r in replay(journal.events(result.run_id)).items()} == {
        "db1": "restored",
        "app1": "reconnected",
    }
    report = report_for_run(tmp_path / "state", result.run_id)
    assert report.outcome == "succeeded"
    assert all(s.restored_s is not None for s in report.services)


def test_the_report_stands_on_the_journal_when_the_graph_moved_or_changed(
    finished: tuple[Path, RunResult, Journal],
) -> None:
    tmp_path, result, _ = finished
    graph = tmp_path / "graph.yaml"
    original = graph.read_text()
    state = tmp_path / "state"
    assert report_for_run(state, result.run_id).notes == ()
    try:
        graph.rename(tmp_path / "elsewhere.yaml")
        moved = report_for_run(state, result.run_id)
        assert moved.graph_name == "engine test"
        services = [(s.id, s.rto_s) for s in moved.services]
        assert services == [("db", 4 * 3600.0), ("app", 8 * 3600.0)]
        assert "no longer there" in moved.notes[0]

        graph.write_text(original.replace("engine test", "renamed").replace("4h", "1h"))
        changed = report_for_run(state, result.run_id)
        assert changed.graph_name == "engine test"  # the journal's copy, not the edited file
        assert changed.services[0].rto_s == 4 * 3600.0
        assert "changed since the run started" in changed.notes[0]
    finally:
        graph.write_text(original)


def test_the_report_command_counts_its_phases(finished: tuple[Path, RunResult, Journal]) -> None:
    """Off a terminal, plain lines with a count (first and last at least), not a spinner."""
    tmp_path, result, journal = finished
    events = journal.events(result.run_id)
    state, out = str(tmp_path / "state"), str(tmp_path / "counted.md")
    command = [sys.executable, "-m", "restore", "report", "--run", result.run_id]
    done = subprocess.run(
        [*command, "--state-dir", state, "-o", out],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "building the report" in line]
    assert f"building the report: 1/4 (read {len(events)} event(s))" in lines[0]
    assert "building the report: 4/4 (rendered as md)" in lines[-1]
    assert (tmp_path / "counted.md").read_text().startswith("#")
