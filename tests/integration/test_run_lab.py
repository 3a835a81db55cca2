"""`restore run` end to end on real lab hosts (sshd in namespaces, real checks, real ansible).

One small hospital: a clean host is checked and reconnected; an infected host with a reimage
step goes through evidence, reimage (lab reset, new host key from the lab), a clean re-check,
a playbook, a health probe and reconnect; an infected host without one stays quarantined,
its dependent is blocked, and the exit code is 1. A secret in the inventory appears nowhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from restore.execution.journal import Journal
from restore.lab import Lab
from restore.models import Platform
from tests.junit_schema import validate_junit

SECRET = "Lab-Secret-8675309"
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: write the rebuilt marker
      ansible.builtin.copy: {dest: /srv/rebuilt, content: "rebuilt\\n", mode: "0644"}
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Lab, Path]]:
    state = tmp_path / "state"
    lab = Lab(state)
    try:
        inventory = lab.up(
            [(name, Platform.LINUX) for name in ("clean1", "infected1", "bad1", "dep1", "hang1")]
        )
        for name in lab.hosts:
            lab.quarantine(name, True)
        data = yaml.safe_load(inventory.read_text())
        data["all"].setdefault("vars", {})["restore_api_token"] = SECRET
        secret_inventory = tmp_path / "inventory.yml"
        secret_inventory.write_text(yaml.safe_dump(data))
        yield lab, secret_inventory
    finally:
        # Reload: the run reset hosts in another process, with new holder PIDs recorded.
        Lab(state).down()


def _graph(tmp: Path, services: list[dict[str, object]]) -> Path:
    (tmp / "rebuild.yml").write_text(PLAYBOOK)
    graph = tmp / "graph.yaml"
    graph.write_text(
        yaml.safe_dump({"version": 1, "name": "lab", "services": services}, sort_keys=False)
    )
    return graph


def _run(
    graph: Path, inventory: Path, state: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "restore",
            "-vv",  # the diagnostic log must never carry a secret either (checked below)
            "run",
            str(graph),
            "-i",
            str(inventory),
            "--state-dir",
            str(state),
            "--format",
            "json",
            "--yes",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_small_hospital_on_lab_hosts(tmp_path: Path, lab: tuple[Lab, Path]) -> None:
    hosts_lab, inventory = lab
    state = hosts_lab.state_dir
    hosts_lab.infect("infected1", "ransom-notes")
    hosts_lab.infect("bad1", "ransom-notes")
    old_key = hosts_lab.host_public_key("infected1")
    graph = _graph(
        tmp_path,
        [
            {"id": "base", "priority": 2, "hosts": ["clean1"]},  # default steps
            {
                "id": "app",
                "priority": 1,
                "hosts": ["infected1"],
                "depends_on": ["base"],
                "steps": [
                    "evidence",
                    "check",
                    "reimage",
                    "check",
                    {"ansible": "rebuild.yml", "timeout": "5m"},
                    {"health": {"tcp": 8443}, "timeout": "1m"},
                    {"approve": "app owner confirms"},
                    "reconnect",
                ],
            },
            {"id": "other", "priority": 3, "hosts": ["bad1"]},
            {"id": "dep", "priority": 3, "hosts": ["dep1"], "depends_on": ["other"]},
            {
                "id": "hung",
                "priority": 4,
                "hosts": ["hang1"],
                "steps": [{"check": None, "timeout": "20s"}, "reconnect"],
            },
        ],
    )
    hosts_lab.fault("hang1", "hang")
    done = _run(graph, inventory, state, "--max-parallel", "3")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    states = {h["host"]: h["state"] for h in result["hosts"]}
    assert states == {
        "clean1": "reconnected",
        "infected1": "reconnected",
        "bad1": "failed",
        "dep1": "blocked",
        "hang1": "failed",
    }, result
    verdicts = {h["host"]: h["verdict"] for h in result["hosts"]}
    assert verdicts["bad1"] == "compromised"
    assert verdicts["infected1"] == "clean"

    network = {h["host"]: h["quarantined"] for h in Lab(state).status()}
    assert network == {
        "clean1": False,
        "infected1": False,
        "bad1": True,
        "dep1": True,
        "hang1": True,
    }
    # the rebuilt host: new key from the lab (the run reset it: reload the lab's state),
    # pinned in the known_hosts the inventory names, and the playbook applied
    hosts_lab = Lab(state)
    new_key = hosts_lab.host_public_key("infected1")
    assert new_key != old_key
    assert new_key in hosts_lab.known_hosts.read_text()
    assert "rebuilt" in hosts_lab.run_on("infected1", "cat /srv/rebuilt")
    # the compromised host: evidence copied and hashed, ransom note still on the host
    journal = Journal(state)
    events = journal.events()
    collected = [
        e for e in events if e.host == "bad1" and e.event == "succeeded" and e.step == "1:evidence"
    ]
    items = collected[0].detail["evidence_items"]
    assert items and all(len(i["sha256"]) == 64 for i in items)
    for item in items:
        hosts_lab.run_on("bad1", f"test -f '{item['path']}'")
    timed_out = [e for e in events if e.host == "hang1" and e.event in {"timed_out", "failed"}]
    assert timed_out
    assert journal.verify().ok

    # the secret appears in no journal, artifact or log under the state dir
    for path in state.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in done.stdout + done.stderr
    # -vv: each step on stderr, and the run's own log file, private to root
    assert "infected1: step 5:ansible: rebuild.yml (ansible) attempt 1" in done.stderr
    run_log = state / "runs" / result["run_id"] / "restore.log"
    assert run_log.stat().st_mode & 0o777 == 0o600
    logged = run_log.read_text()
    assert "WARNING restore.execution.engine" in logged and "hang1: step 1:check failed" in logged
    assert "journal" in logged  # -vv also logs every journal event
    hosts_lab.fault("hang1", None)

    # JUnit tells the truth: the compromised host fails with its verdict and findings, though
    # its check step "succeeded" in reaching that verdict; the blocked one fails too
    junit = subprocess.run(
        [sys.executable, "-m", "restore", "report", "--format", "junit", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert junit.returncode == 0, junit.stderr
    suite = validate_junit(junit.stdout)
    outcome = {
        c.get("classname"): c.find("failure")
        for c in suite.iter("testcase")
        if c.get("name") == "00 outcome"
    }
    bad = outcome["other.bad1"]
    assert bad is not None and "last check verdict compromised" in str(bad.get("message"))
    assert "ransom" in str(bad.get("message"))
    assert outcome["dep.dep1"] is not None and outcome["app.infected1"] is None
    assert [e.step for e in events if e.host == "infected1" and e.event == "succeeded"] == [
        "1:evidence",
        "2:check",
        "3:reimage",
        "4:check",
        "5:ansible: rebuild.yml",
        "6:health: tcp=8443",
        "7:approve: app owner confirms",
        "8:reconnect",
    ]
