"""After the start, the journal is the only source: the real program, from other folders.

One run of three independent services on hosts reached through the local transport (no lab
needed): a host that waits at an approve gate while its graph file is moved away, then is
skipped and approved from another folder; a host with only ssh steps (it ends `restored`); a
host whose playbook fails (the failing task, host and module message reach the console, the
journal and the report, with the inventory's secret masked).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from restore.execution.journal import Journal

SECRET = "Night-Secret-5150"
FAILING = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Restore the dump
      ansible.builtin.command:
        argv: [sh, -c, "echo 'restic: repository /srv/backup does not exist ({{ token }})' >&2; exit 3"]
      vars: {token: "{{ restore_api_token }}"}
"""


def _restore(*args: str, state: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "restore", *args, "--state-dir", str(state)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write_case(work: Path, marker: Path) -> None:
    (work / "failing.yml").write_text(FAILING)
    services = [
        {
            "id": "ward",
            "name": "Ward terminals",
            "priority": 1,
            "hosts": ["g1"],
            "rto": "2h",
            "steps": [{"approve": "ward confirms"}, {"ssh": f"touch {marker}", "name": "touch"}],
        },
        {
            "id": "dns",
            "name": "Resolvers",
            "priority": 2,
            "hosts": ["s1"],
            "rto": "1h",
            "steps": [{"ssh": "true", "name": "ping"}],
        },
        {
            "id": "db",
            "name": "Database",
            "priority": 3,
            "hosts": ["d1"],
            "rto": "4h",
            "steps": [{"ansible": "failing.yml", "name": "restore from backup"}],
        },
    ]
    graph = {"version": 1, "name": "Night shift", "services": services}
    (work / "graph.yaml").write_text(yaml.safe_dump(graph, sort_keys=False))
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "restore_api_token": SECRET,
            },
            "hosts": {h: {"ansible_host": "127.0.0.1"} for h in ("g1", "s1", "d1")},
        }
    }
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))


def _waiting_at_approval(state: Path, run: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and run.poll() is None:
        if (state / "journal.sqlite").exists():
            journal = Journal(state)
            try:
                events = journal.events()
            finally:
                journal.close()
            if any(e.host == "g1" and e.event == "started" for e in events):
                return
        time.sleep(0.1)
    raise AssertionError("the run never reached g1's approve step")


def test_decisions_status_and_report_from_another_folder_without_the_graph(
    tmp_path: Path,
) -> None:
    work, elsewhere, state = tmp_path / "work", tmp_path / "elsewhere", tmp_path / "state"
    work.mkdir()
    elsewhere.mkdir()
    marker = tmp_path / "touched-by-g1"
    _write_case(work, marker)
    command = ["run", "graph.yaml", "-i", "inventory.yml", "--max-parallel", "3"]
    run = subprocess.Popen(
        [sys.executable, "-m", "restore", *command, "--format", "json", "--state-dir", str(state)],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _waiting_at_approval(state, run)
        (work / "graph.yaml").rename(tmp_path / "graph-moved-away.yaml")
        # a second terminal, in another folder, with --state-dir alone
        skip = _restore(
            "skip", "g1", "touch", "--by", "Dr Night", "--reason", "done by hand",
            state=state, cwd=elsewhere,
        )  # fmt: skip
        assert skip.returncode == 0, skip.stderr
        approve = _restore("approve", "g1", "--by", "Dr Night", state=state, cwd=elsewhere)
        assert approve.returncode == 0, approve.stderr
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert run.returncode == 1, stderr  # d1's playbook failed
    result = json.loads(stdout)
    states = {h["host"]: h["state"] for h in result["hosts"]}
    assert states == {"g1": "restored", "s1": "restored", "d1": "failed"}, result
    assert not marker.exists()  # the skipped step never ran
    # the console: which task failed on which host, and why (from runner events)
    d1 = next(h for h in result["hosts"] if h["host"] == "d1")
    assert "task 'Restore the dump' on d1" in d1["message"]
    assert "repository /srv/backup does not exist" in d1["message"]

    status = _restore("status", "--format", "json", state=state, cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    assert {h["host"]: h["state"] for h in json.loads(status.stdout)["hosts"]} == states

    journal = Journal(state)
    try:
        events = journal.events()
    finally:
        journal.close()
    (failed,) = [e for e in events if e.host == "d1" and e.event == "failed"]
    failure = failed.detail["failure"]
    assert failure["task"] == "Restore the dump" and failure["host"] == "d1"
    assert failure["module"] == "ansible.builtin.command"
    assert "repository /srv/backup does not exist (***)" in failure["message"]
    (waived,) = [e for e in events if e.event == "waived"]
    assert (waived.host, waived.step, waived.detail["by"]) == ("g1", "2:touch", "Dr Night")

    report = _restore("report", "--format", "md", state=state, cwd=elsewhere)
    assert report.returncode == 0, report.stderr
    md = report.stdout
    assert md.startswith("# Recovery report — Night shift")
    for row in (
        "| ward — Ward terminals | 1 |",
        "| dns — Resolvers | 2 |",
        "| db — Database | 3 |",
    ):
        assert row in md  # the RTO table, from the journal's copy of the graph
    assert "no longer there" in md  # and the report says where its graph came from
    assert "Restore the dump" in md and "repository /srv/backup does not exist" in md
    data = json.loads(_restore("report", "--format", "json", state=state, cwd=elsewhere).stdout)
    assert [s["rto_s"] for s in data["services"]] == [7200.0, 3600.0, 14400.0]
    assert data["failures"][0]["task"] == "Restore the dump"
    for text in (md, stdout, stderr, json.dumps([e.to_json() for e in events])):
        assert SECRET not in text
