"""kill -9 of a real `restore run` process at several points, then --resume.

Hosts are reached through the local transport (ansible_connection: local), so this runs
without lab hosts; what is under test is the orchestrator dying and its journal.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from restore.execution.journal import Journal

from .local_runs import (
    call_restore,
    head_hash,
    journal_events,
    json_status,
    restore_argv,
    ssh_step,
    started_steps,
    write_case,
)


def _run_and_kill(
    cmd: list[str], state: Path, after_started: int, and_exists: Path | None = None
) -> None:
    """Kill -9 once the journal has `after_started` starts (and, when given, once
    `and_exists` shows that the step's command really began on the host: the journal
    records a start just before the command is sent)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if started_steps(state) >= after_started and (
                and_exists is None or and_exists.exists()
            ):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before the kill point"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)


def test_kill_9_at_several_points_then_resume(tmp_path: Path) -> None:
    log = tmp_path / "log"
    hosts = ["a1", "a2", "b1", "c1"]

    def steps(host: str) -> list[dict[str, object]]:
        return [ssh_step(f"sleep 0.3; echo {host}-{i} >> {log}", name=f"s{i}") for i in range(3)]

    services = [
        {"id": "a", "priority": 1, "hosts": ["a1", "a2"], "steps": steps("a"), "max_parallel": 2},
        {"id": "b", "priority": 2, "hosts": ["b1"], "steps": steps("b"), "depends_on": ["a"]},
        {"id": "c", "priority": 3, "hosts": ["c1"], "steps": steps("c")},
    ]
    graph, inventory = write_case(tmp_path, services, hosts, name="resume")
    state = tmp_path / "state"
    base = ["run", str(graph), "-i", str(inventory), "--max-parallel", "2"]
    _run_and_kill(restore_argv(*base, state=state), state, after_started=2)
    _run_and_kill(restore_argv(*base, "--resume", state=state), state, after_started=6)
    _run_and_kill(restore_argv(*base, "--resume", state=state), state, after_started=9)
    done = call_restore(*base, "--resume", "--format", "json", state=state)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "succeeded"

    journal = Journal(state)
    events = journal.events()
    assert len({e.run_id for e in events}) == 1  # one run, resumed three times
    succeeded = Counter((e.host, e.step) for e in events if e.event == "succeeded")
    assert len(succeeded) == 12  # 4 hosts x 3 steps
    assert set(succeeded.values()) == {1}, "a succeeded step ran again"
    assert sum(1 for e in events if e.event == "run_resumed") == 3
    assert journal.verify().ok
    verify = call_restore("journal", "verify", state=state)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _interrupted_migration(tmp_path: Path) -> tuple[list[str], Path, Path]:
    """A run killed while its non-idempotent step ran; --resume then stops for an operator."""
    marker = tmp_path / "migrations"
    services = [
        {
            "id": "db",
            "priority": 1,
            "hosts": ["db1"],
            "steps": [
                ssh_step(f"echo ran >> {marker}; sleep 3", idempotent=False, name="migrate"),
                ssh_step(f"echo after >> {marker}", name="after"),
            ],
        }
    ]
    graph, inventory = write_case(tmp_path, services, ["db1"], name="resume")
    state = tmp_path / "state"
    base = ["run", str(graph), "-i", str(inventory)]
    _run_and_kill(restore_argv(*base, state=state), state, after_started=1, and_exists=marker)
    time.sleep(0.5)
    stopped = call_restore(*base, "--resume", "--format", "json", state=state, timeout=60)
    assert stopped.returncode == 1
    assert json.loads(stopped.stdout)["state"] == "needs_operator"
    assert marker.read_text().count("ran") == 1  # not run a second time behind anyone's back
    return base, state, marker


@pytest.mark.parametrize(
    ("decision", "target", "step_key", "lines", "last_step"),
    [
        # done by hand: it is not run again
        ("mark-done", "1", "1:migrate", ["ran", "after"], "2:after"),
        # run it again: the operator checked that the migration can be repeated
        ("retry", "migrate", "1:migrate", ["ran", "ran", "after"], "2:after"),
        # waive the step: the host's other steps go on
        ("skip", "1", "1:migrate", ["ran", "after"], "2:after"),
        # waive the whole host: nothing more runs on it
        ("skip", "host", None, ["ran"], None),
    ],
)
def test_an_unfinished_non_idempotent_step_waits_for_an_operator_decision(
    tmp_path: Path,
    decision: str,
    target: str,
    step_key: str | None,
    lines: list[str],
    last_step: str | None,
) -> None:
    base, state, marker = _interrupted_migration(tmp_path)
    decided = call_restore(
        decision, "db1", target, "--by", "alice", "--reason", "see ticket 42", state=state
    )
    assert decided.returncode == 0, decided.stderr
    finished = call_restore(*base, "--resume", "--format", "json", state=state, timeout=60)
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)
    assert result["state"] == "succeeded"
    assert marker.read_text().split() == lines

    journal = Journal(state)
    try:
        journaled = {"mark-done": "marked_done", "retry": "retried", "skip": "waived"}[decision]
        (event,) = [e for e in journal.events() if e.event == journaled]
        assert (event.host, event.step) == ("db1", step_key)
        assert event.detail == {
            "by": "alice",
            "reason": "see ticket 42",
            "os_user": pwd.getpwuid(os.getuid()).pw_name,
            "terminal": "none",  # run from a test, no terminal
        }
    finally:
        journal.close()
    data = json_status(state)
    assert data["state"] == "succeeded" and data["hosts"] == [
        {k: h[k] for k in ("host", "service", "state", "step", "verdict")} for h in result["hosts"]
    ]
    assert data["head_hash"] == head_hash(state)
    (host,) = result["hosts"]
    if last_step is None:
        assert host["state"] == "skipped" and "waived" in host["message"]
    else:
        assert host["step"] == last_step
        assert host["state"] not in {"failed", "blocked", "skipped"}


def test_ctrl_c_stops_cleanly_with_130_and_the_run_resumes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    services = [
        {
            "id": "app",
            "priority": 1,
            "hosts": ["a1", "a2"],
            "steps": [
                ssh_step(f"sleep 1; echo $(hostname)-{i} >> {log}", name=f"s{i}") for i in (1, 2)
            ],
        }
    ]
    graph, inventory = write_case(tmp_path, services, ["a1", "a2"], name="resume")
    state = tmp_path / "state"
    base = ["run", str(graph), "-i", str(inventory), "--format", "json"]
    run = subprocess.Popen(
        restore_argv(*base, state=state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while started_steps(state) < 1 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)  # what Ctrl-C sends
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr

    journal = Journal(state)
    try:
        interrupted = [(e.host, e.step) for e in journal.events() if e.event == "succeeded"]
        (stop,) = [e for e in journal.events() if e.event == "run_interrupted"]
        assert stop.detail["signal"] == "SIGINT"
        cut = [e for e in journal.events() if e.event == "interrupted"]
        assert all(e.detail["signal"] == "SIGINT" for e in cut)
        assert not [e for e in journal.events() if e.event == "failed"]
        assert journal.verify().ok
    finally:
        journal.close()
    assert len([step for _, step in interrupted if step]) < 4  # it really stopped midway

    done = call_restore(*base, "--resume", state=state)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "succeeded"
    events = journal_events(state)
    assert len({e.run_id for e in events}) == 1  # the same run, resumed
    succeeded = Counter((e.host, e.step) for e in events if e.event == "succeeded" and e.step)
    assert set(succeeded) == {(h, f"{i}:s{i}") for h in ("a1", "a2") for i in (1, 2)}
    assert max(succeeded.values()) == 1  # nothing that succeeded ran again


def test_dry_run_of_the_real_program_changes_nothing(tmp_path: Path) -> None:
    """--dry-run walks the whole plan: Ansible and ssh steps shown, not run."""
    by_ansible, by_ssh = tmp_path / "made-by-ansible", tmp_path / "made-by-ssh"
    playbook = tmp_path / "make.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - name: make a file\n      ansible.builtin.file: {{path: {by_ansible}, state: touch,"
        " mode: '0600'}\n"
    )
    services = [
        {
            "id": "app",
            "priority": 1,
            "hosts": ["a1"],
            "steps": [{"ansible": str(playbook)}, ssh_step(f"touch {by_ssh}", name="touch")],
        }
    ]
    graph, inventory = write_case(tmp_path, services, ["a1"], name="resume")
    # modules run by this very interpreter (interpreter discovery may find a broken shim)
    data = yaml.safe_load(inventory.read_text())
    data["all"]["vars"]["ansible_python_interpreter"] = sys.executable
    inventory.write_text(yaml.safe_dump(data))
    state = tmp_path / "state"
    done = call_restore(
        "run", str(graph), "-i", str(inventory), "--dry-run", "--format", "json", state=state
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "succeeded"
    assert not by_ansible.exists() and not by_ssh.exists()
    messages = {e.step: str(e.detail.get("message", "")) for e in journal_events(state) if e.step}
    # not even check mode: it would connect to the host
    assert messages["1:ansible: make.yml"].startswith("dry run: would run playbook")
    assert messages["2:touch"].startswith("dry run: would run over ssh")

    # the same plan for real does make both files: the dry run above could have
    real = call_restore("run", str(graph), "-i", str(inventory), state=tmp_path / "real")
    assert real.returncode == 0, real.stderr
    assert by_ansible.exists() and by_ssh.exists()
