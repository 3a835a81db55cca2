"""Twins that fit the graph, through the real program: `restore lab up --from-inventory INV
--graph GRAPH` makes each twin listen on the ports its service's health probes name, and a
fresh twin is clean against an incident declared yesterday (its image's files are dated
2000-01-01), so a real graph is rehearsed without edits."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.lab

RESTORE = str(Path(sys.executable).parent / "restore")
INVENTORY = """\
all:
  children:
    dns_servers:
      hosts:
        dns01.test:
    db_servers:
      hosts:
        pg01.test:
    sql_servers:
      hosts:
        sql01.test:
          ansible_connection: winrm
"""


def restore(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RESTORE, *map(str, args)], capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    folder = tmp_path_factory.mktemp("graph-twins")
    (folder / "inventory.yml").write_text(INVENTORY)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    graph = folder / "graph.yaml"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "twins",
                "incident": {"declared_at": yesterday},
                "services": [
                    {
                        "id": "dns",
                        "priority": 1,
                        "hosts": ["@dns_servers"],
                        "steps": ["check", {"health": {"tcp": 53}}],
                    },
                    {
                        "id": "db",
                        "priority": 1,
                        "depends_on": ["dns"],
                        "hosts": ["pg01.test"],
                        "steps": [
                            "check",
                            {"health": {"tcp": 5432}},
                            {"health": {"http": "http://{host}:8080/"}},
                        ],
                    },
                    {
                        "id": "sql",
                        "priority": 2,
                        "hosts": ["sql01.test"],
                        "steps": [{"health": {"tcp": 1433}}],
                    },
                ],
            },
            sort_keys=False,
        )
    )
    state = folder / "state"
    try:
        done = restore(
            "lab",
            "up",
            "--from-inventory",
            folder / "inventory.yml",
            "--graph",
            graph,
            "--state-dir",
            state,
        )
        assert done.returncode == 0, done.stderr
        assert "lab up: 3/3" in done.stderr  # progress, as plain lines off a terminal
        yield graph, Path(done.stdout.strip().splitlines()[-1]), state
    finally:
        restore("lab", "down", "--state-dir", state)


def _open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def test_each_twin_listens_where_its_probes_look(twins: tuple[Path, Path, Path]) -> None:
    _, inventory, _ = twins
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["lab_linux"]["hosts"]
    dns, pg = hosts["dns01.test"]["ansible_host"], hosts["pg01.test"]["ansible_host"]
    assert _open(dns, 53) and _open(pg, 5432) and _open(pg, 8080)
    assert not _open(dns, 5432)  # only what its own service probes
    production = hosts["pg01.test"]["restore_production_address"]
    assert _open(production, 5432)  # like a real service: on both interfaces
    windows = yaml.safe_load(inventory.read_text())["all"]["children"]["lab_windows"]["hosts"]
    sql = windows["sql01.test"]["ansible_host"]
    assert _open(sql, 1433) and _open(sql, 5986)  # next to its WS-Man endpoint


def test_a_fresh_twin_is_clean_against_yesterdays_incident(
    twins: tuple[Path, Path, Path],
) -> None:
    graph, inventory, state = twins
    since = yaml.safe_load(graph.read_text())["incident"]["declared_at"]
    done = restore(
        "check",
        "-i",
        inventory,
        "dns01.test",
        "pg01.test",
        "--since",
        since,
        "--no-evidence",
        "--format",
        "json",
        "--state-dir",
        state / "checks",
    )
    assert "checking: 2/2" in done.stderr  # progress, as plain lines off a terminal
    report = json.loads(done.stdout)
    verdicts = {h["host"]: h["verdict"] for h in report["hosts"]}
    assert verdicts == {"dns01.test": "clean", "pg01.test": "clean"}, done.stdout


def test_the_graph_needs_the_inventory(tmp_path: Path, twins: tuple[Path, Path, Path]) -> None:
    graph, _, _ = twins
    done = restore("lab", "up", "--graph", graph, "--state-dir", tmp_path)
    assert done.returncode == 2
    assert "--graph needs --from-inventory" in done.stderr
