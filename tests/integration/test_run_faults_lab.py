"""A hung WinRM host and an unreachable SSH host time out while the rest of the run goes on;
and the engine starts hosts in exactly the order the plan's simulation gives (one scheduler)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from restore.cli.app import app
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.models import Platform
from restore.planning.plan import build_plan

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _graph(tmp: Path, services: list[dict[str, object]]) -> Path:
    path = tmp / "graph.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "name": "faults", "services": services}))
    return path


def test_hung_winrm_and_unreachable_ssh_do_not_stall_the_run(tmp_path: Path) -> None:
    state = tmp_path / "state"
    lab = Lab(state)
    try:
        inventory = lab.up(
            [("winhang", Platform.WINDOWS), ("gone", Platform.LINUX), ("fine", Platform.LINUX)]
        )
        lab.fault("winhang", "hang")
        lab.fault("gone", "unreachable")
        short = [{"check": None, "timeout": "20s"}, "reconnect"]
        graph = _graph(
            tmp_path,
            [
                {"id": "ad", "priority": 1, "hosts": ["winhang"], "steps": short},
                {"id": "db", "priority": 1, "hosts": ["gone"], "steps": short},
                {"id": "mail", "priority": 4, "hosts": ["fine"], "steps": short},
            ],
        )
        started = time.monotonic()
        result = CliRunner().invoke(
            app,
            [
                "run",
                str(graph),
                "-i",
                str(inventory),
                "--yes",
                "--max-parallel",
                "3",
                "--format",
                "json",
                "--state-dir",
                str(state),
            ],
        )
        elapsed = time.monotonic() - started
    finally:
        Lab(state).down()
    assert result.exit_code == 1, result.stderr[-2000:]
    hosts = {h["host"]: h for h in json.loads(result.stdout)["hosts"]}
    assert hosts["fine"]["state"] == "reconnected"
    assert hosts["winhang"]["state"] == "failed" and hosts["gone"]["state"] == "failed"
    assert elapsed < 120  # bounded by the 20 s step deadlines, not by the hung host


def test_engine_start_order_equals_simulation(tmp_path: Path) -> None:
    state = tmp_path / "state"
    lab = Lab(state)
    names = ["dc1", "db1", "app1", "app2", "mail1"]
    try:
        inventory = lab.up([(n, Platform.LINUX) for n in names])
        quick = ["check", "reconnect"]
        graph = _graph(
            tmp_path,
            [
                {"id": "mail", "priority": 4, "hosts": ["mail1"], "steps": quick},
                {"id": "ad", "priority": 3, "hosts": ["dc1"], "steps": quick},
                {"id": "db", "priority": 2, "hosts": ["db1"], "depends_on": ["ad"], "steps": quick},
                {
                    "id": "lis",
                    "priority": 1,
                    "hosts": ["app1", "app2"],
                    "depends_on": ["db"],
                    "steps": quick,
                },
            ],
        )
        plan = build_plan(load_graph(graph), load_inventory(inventory), max_parallel=(1,))
        simulated = [t.host for t in sorted(plan.simulations[0].timeline, key=lambda t: t.start_s)]
        result = CliRunner().invoke(
            app,
            [
                "run",
                str(graph),
                "-i",
                str(inventory),
                "--yes",
                "--max-parallel",
                "1",
                "--state-dir",
                str(state),
            ],
        )
        exported = CliRunner().invoke(
            app, ["journal", "export", "--format", "json", "--state-dir", str(state)]
        )
    finally:
        Lab(state).down()
    assert result.exit_code == 0, result.stderr[-2000:]
    events = json.loads(exported.stdout)["events"]
    started: list[str] = []
    for event in events:
        if event["event"] == "started" and event["host"] not in started:
            started.append(event["host"])
    assert started == simulated
    assert simulated[:4] == ["dc1", "db1", "app1", "app2"]  # the clinical chain before mail
