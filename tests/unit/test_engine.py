"""The engine's invariants on hosts reached through the local transport and real ansible-runner.

Only the integrity verdict is provoked (a check runner that returns the verdict a test needs):
planting real infections needs lab hosts, which tests/integration does. Everything else is
real: SQLite journal, ansible-playbook for reconnect, subprocesses for ssh/health steps,
the command reimage provider, threads and deadlines.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore.errors import InputError
from restore.execution.engine import Engine, RunOptions, RunResult
from restore.execution.journal import Journal
from restore.execution.runlock import RunLock
from restore.execution.steps.base import StepContext, StepOutcome
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.models import StepType, Verdict
from restore.planning.plan import build_plan

NEW_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKvN5qGq0s0vE7d0o2i3Gf1x6mVx1b2pYk2GxZ8m9yQh"
RECONNECT = """
- hosts: "{{ target_host }}"
  gather_facts: false
  tasks:
    - ansible.builtin.debug: {msg: reconnected}
"""


def _write(tmp: Path, services: list[dict[str, Any]], hosts: list[str]) -> tuple[Path, Path]:
    (tmp / "reconnect.yml").write_text(RECONNECT)
    (tmp / "quarantine.yml").write_text(RECONNECT)
    graph = tmp / "graph.yaml"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "engine test",
                "network": {"quarantine": "quarantine.yml", "reconnect": "reconnect.yml"},
                "services": services,
            },
            sort_keys=False,
        )
    )
    known_hosts = tmp / "known_hosts"
    inventory = tmp / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": sys.executable,
                        "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}",
                        "restore_reimage_command": f"/bin/echo {NEW_KEY}",
                    },
                    "hosts": {h: {"ansible_host": "127.0.0.1"} for h in hosts},
                }
            }
        )
    )
    return graph, inventory


def _verdicts(table: dict[str, list[Verdict]]) -> Callable[[StepContext], StepOutcome]:
    """A check runner answering each host's verdicts in turn (the last one repeats)."""
    lock = threading.Lock()

    def check(ctx: StepContext) -> StepOutcome:
        with lock:
            queue = table[ctx.host.name]
            verdict = queue.pop(0) if len(queue) > 1 else queue[0]
        return StepOutcome("succeeded", {"verdict": verdict.value, "findings": []}, verdict)

    return check


def _evidence(ctx: StepContext) -> StepOutcome:
    return StepOutcome("succeeded", {"evidence_items": []})


def _run(
    tmp: Path,
    services: list[dict[str, Any]],
    hosts: list[str],
    verdicts: dict[str, list[Verdict]] | None = None,
    runners: dict[StepType, Callable[[StepContext], StepOutcome]] | None = None,
    **options: Any,
) -> tuple[RunResult, Journal]:
    graph, inventory = _write(tmp, services, hosts)
    spec = load_graph(graph)
    inv = load_inventory(inventory, with_secrets=True)
    plan = build_plan(spec, inv)
    journal = Journal(tmp / "state")
    overrides: dict[StepType, Callable[[StepContext], StepOutcome]] = {
        StepType.EVIDENCE: _evidence,
        StepType.CHECK: _verdicts(verdicts or {h: [Verdict.CLEAN] for h in hosts}),
        **(runners or {}),
    }
    engine = Engine(plan, inv, str(inventory), journal, RunOptions(**options), runners=overrides)
    return engine.run(), journal


def _states(result: RunResult) -> dict[str, str]:
    return {h.host: h.state for h in result.hosts}


def _started(journal: Journal, run_id: str) -> list[tuple[str | None, str | None]]:
    return [(e.host, e.step) for e in journal.events(run_id) if e.event == "started"]


def test_clean_hosts_reconnect_in_priority_order(tmp_path: Path) -> None:
    services = [
        {
            "id": "app",
            "priority": 1,
            "hosts": ["app1"],
            "depends_on": ["db"],
            "steps": ["check", "reconnect"],
        },
        {"id": "db", "priority": 5, "hosts": ["db1"], "steps": ["check", "reconnect"]},
        {"id": "mail", "priority": 4, "hosts": ["mail1"], "steps": ["check", "reconnect"]},
    ]
    result, journal = _run(tmp_path, services, ["app1", "db1", "mail1"])
    assert result.state == "succeeded", result
    assert result.exit_code == 0
    assert set(_states(result).values()) == {"reconnected"}
    hosts_started = [h for h, _ in _started(journal, result.run_id)]
    # db inherits app's priority 1, so it goes before mail (4)
    assert hosts_started.index("db1") < hosts_started.index("mail1")
    assert hosts_started.index("db1") < hosts_started.index("app1")
    assert journal.verify().ok


def test_reconnect_refuses_host_without_clean_check(tmp_path: Path) -> None:
    services = [{"id": "s", "priority": 1, "hosts": ["h1"], "steps": ["reconnect"]}]
    result, journal = _run(tmp_path, services, ["h1"])
    assert result.exit_code == 1
    assert _states(result) == {"h1": "failed"}
    refused = [e for e in journal.events(result.run_id) if e.event == "refused"]
    assert refused and "not clean" in refused[0].detail["message"]


def test_the_gates_hold_whatever_runners_the_engine_is_given(tmp_path: Path) -> None:
    """A substituted reconnect or reimage runner that would say yes is never even called: the
    engine refuses first (DESIGN §5), from the journal's facts."""
    called: list[str] = []

    def yes(ctx: StepContext) -> StepOutcome:
        called.append(f"{ctx.host.name}:{ctx.step_key}")
        return StepOutcome("succeeded", {"message": "substituted runner said yes"})

    services = [
        {"id": "a", "priority": 1, "hosts": ["h1"], "steps": ["reconnect"]},
        {"id": "b", "priority": 2, "hosts": ["h2"], "steps": ["check", "reimage"]},
    ]
    result, journal = _run(
        tmp_path,
        services,
        ["h1", "h2"],
        {"h1": [Verdict.CLEAN], "h2": [Verdict.COMPROMISED]},
        runners={StepType.RECONNECT: yes, StepType.REIMAGE: yes},
        max_parallel=2,
    )
    assert called == []
    assert _states(result) == {"h1": "failed", "h2": "failed"}
    refused = {e.host: e for e in journal.events(result.run_id) if e.event == "refused"}
    assert "not clean" in refused["h1"].detail["message"]
    assert refused["h1"].detail["verdict"] is None  # never checked in this run
    assert "evidence" in refused["h2"].detail["message"]


def test_compromised_host_blocks_dependents_and_independent_branch_goes_on(
    tmp_path: Path,
) -> None:
    steps = ["evidence", "check", "reconnect"]
    services = [
        {"id": "db", "priority": 1, "hosts": ["db1"], "steps": steps},
        {"id": "app", "priority": 1, "hosts": ["app1"], "depends_on": ["db"], "steps": steps},
        {"id": "web", "priority": 2, "hosts": ["web1"], "depends_on": ["app"], "steps": steps},
        {"id": "dns", "priority": 3, "hosts": ["ns1"], "steps": steps},
    ]
    verdicts = {
        "db1": [Verdict.COMPROMISED],
        "app1": [Verdict.CLEAN],
        "web1": [Verdict.CLEAN],
        "ns1": [Verdict.CLEAN],
    }
    result, journal = _run(tmp_path, services, ["db1", "app1", "web1", "ns1"], verdicts)
    assert _states(result) == {
        "db1": "failed",
        "app1": "blocked",
        "web1": "blocked",
        "ns1": "reconnected",
    }
    assert result.exit_code == 1
    db = next(h for h in result.hosts if h.host == "db1")
    assert db.verdict == "compromised"
    # the blocked hosts never ran a step
    assert {h for h, _ in _started(journal, result.run_id)} == {"db1", "ns1"}


def test_reimage_refuses_without_evidence(tmp_path: Path) -> None:
    services = [
        {
            "id": "s",
            "priority": 1,
            "hosts": ["h1"],
            "steps": ["check", "reimage", "check", "reconnect"],
        },
    ]
    result, journal = _run(tmp_path, services, ["h1"], {"h1": [Verdict.COMPROMISED, Verdict.CLEAN]})
    assert _states(result) == {"h1": "failed"}
    refused = [e for e in journal.events(result.run_id) if e.event == "refused"]
    assert refused[0].step == "2:reimage"
    assert "evidence" in refused[0].detail["message"]
    assert not (tmp_path / "known_hosts").exists()  # nothing was reimaged


def test_infected_host_is_reimaged_rechecked_and_reconnected(tmp_path: Path) -> None:
    services = [
        {
            "id": "s",
            "priority": 1,
            "hosts": ["h1"],
            "steps": ["evidence", "check", "reimage", "check", "reconnect"],
        },
    ]
    result, journal = _run(tmp_path, services, ["h1"], {"h1": [Verdict.COMPROMISED, Verdict.CLEAN]})
    assert _states(result) == {"h1": "reconnected"}, result
    states = [e.detail["state"] for e in journal.events(result.run_id) if e.event == "state"]
    assert states == [
        "collecting_evidence",
        "checking",
        "compromised",
        "reimaging",
        "checking",
        "clean",
        "verifying",
        "reconnected",
    ]
    # the new host key came from the provider, pinned for the host's addresses
    assert NEW_KEY in (tmp_path / "known_hosts").read_text()


def test_reimage_resets_the_verdict(tmp_path: Path) -> None:
    """A clean check before a reimage does not let the rebuilt host reconnect unchecked."""
    services = [
        {
            "id": "s",
            "priority": 1,
            "hosts": ["h1"],
            "steps": ["evidence", "check", "reimage", "reconnect"],
        },
    ]
    result, _ = _run(tmp_path, services, ["h1"])
    assert _states(result) == {"h1": "failed"}


def test_hung_step_times_out_and_the_rest_goes_on(tmp_path: Path) -> None:
    released = threading.Event()

    def hang(ctx: StepContext) -> StepOutcome:
        if ctx.host.name == "stuck1":
            released.wait(60)  # ignores cancellation, like a hung network call
        return StepOutcome("succeeded", {"verdict": "clean"}, Verdict.CLEAN)

    services = [
        {
            "id": "a",
            "priority": 1,
            "hosts": ["stuck1"],
            "steps": [{"check": None, "timeout": "1s"}, "reconnect"],
        },
        {"id": "b", "priority": 2, "hosts": ["ok1"], "steps": ["check", "reconnect"]},
    ]
    began = time.monotonic()
    try:
        result, journal = _run(
            tmp_path, services, ["stuck1", "ok1"], runners={StepType.CHECK: hang}, max_parallel=2
        )
    finally:
        released.set()  # the hung call returns after the test: no thread outlives it
    assert time.monotonic() - began < 30
    assert _states(result) == {"stuck1": "failed", "ok1": "reconnected"}
    timed = [e for e in journal.events(result.run_id) if e.event == "timed_out"]
    assert [e.host for e in timed] == ["stuck1"]


def test_failed_ssh_step_retries_with_backoff(tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    command = f"echo x >> {marker}; test $(wc -l < {marker}) -ge 2"
    services = [
        {
            "id": "s",
            "priority": 1,
            "hosts": ["h1"],
            "steps": ["check", {"ssh": command, "retries": 2}, "reconnect"],
        },
    ]
    result, journal = _run(tmp_path, services, ["h1"])
    assert _states(result) == {"h1": "reconnected"}
    ssh_events = [
        e.event for e in journal.events(result.run_id) if e.step == "2:ssh: " + command[:37] + "..."
    ]
    assert ssh_events == ["started", "failed", "started", "succeeded"]


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    services = [
        {
            "id": "s",
            "priority": 1,
            "hosts": ["h1"],
            "steps": [
                "evidence",
                "check",
                "reimage",
                "check",
                {"ssh": f"touch {marker}"},
                "reconnect",
            ],
        },
    ]
    result, journal = _run(tmp_path, services, ["h1"], dry_run=True)
    assert result.state == "succeeded", result
    assert not marker.exists()
    assert not (tmp_path / "known_hosts").exists()
    messages = [e.detail.get("message", "") for e in journal.events(result.run_id)]
    assert any("would reimage" in m for m in messages)


def test_approval_from_a_second_process(tmp_path: Path) -> None:
    services = [
        {
            "id": "s",
            "priority": 1,
            "hosts": ["h1"],
            "steps": ["check", {"approve": "biology confirms"}, "reconnect"],
        },
    ]
    box: list[RunResult] = []
    state = tmp_path / "state"

    def run_holding_the_lock() -> None:  # as `restore run` does: approvals go to a live run
        with RunLock(state, "run"):
            box.append(_run(tmp_path, services, ["h1"])[0])

    worker = threading.Thread(target=run_holding_the_lock)
    worker.start()
    journal = Journal(state)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(e.event == "started" and "approve" in (e.step or "") for e in journal.events()):
            break
        time.sleep(0.2)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "restore",
            "approve",
            "h1",
            "--by",
            "Dr. Martin",
            "--reason",
            "analysers OK",
            "--state-dir",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    worker.join(60)
    assert box and _states(box[0]) == {"h1": "reconnected"}
    approved = [e for e in journal.events() if e.event == "approved"]
    assert approved[0].detail["by"] == "Dr. Martin"
    assert approved[0].detail["reason"] == "analysers OK"
    assert journal.verify().ok


@pytest.mark.parametrize("yes", [True])
def test_yes_auto_approves_and_says_so(tmp_path: Path, yes: bool) -> None:
    services = [
        {
            "id": "s",
            "priority": 1,
            "hosts": ["h1"],
            "steps": ["check", {"approve": "ok?"}, "reconnect"],
        },
    ]
    result, journal = _run(tmp_path, services, ["h1"], assume_yes=yes)
    assert _states(result) == {"h1": "reconnected"}
    approved = [e for e in journal.events() if e.event == "approved"]
    assert approved[0].detail["auto"] is True


def test_dry_run_walks_the_whole_plan_and_names_the_gates(tmp_path: Path) -> None:
    """The real evidence and check kinds: in a dry run their describers touch nothing (the
    runners are never called), the evidence step's plan satisfies the dry run's reimage gate,
    and no approval is journaled."""
    from restore.execution.runners import RUNNERS

    marker = tmp_path / "touched"
    steps = [
        "evidence",
        "check",
        "reimage",
        "check",
        {"ssh": f"touch {marker}"},
        {"health": {"tcp": 1}, "timeout": "5s"},
        {"approve": "biology confirms"},
        "reconnect",
    ]
    services = [{"id": "s", "priority": 1, "hosts": ["h1"], "steps": steps}]
    real = {t: RUNNERS[t] for t in (StepType.EVIDENCE, StepType.CHECK)}
    result, journal = _run(tmp_path, services, ["h1"], runners=real, dry_run=True)
    assert result.state == "succeeded", result
    assert not marker.exists() and not (tmp_path / "state" / "evidence").exists()
    events = journal.events(result.run_id)
    assert not [e for e in events if e.event == "approved"]  # nobody approved anything
    said = {e.step: e.detail["message"] for e in events if e.event == "succeeded"}
    assert "would examine h1 over SSH" in said["1:evidence"]
    assert "would reimage h1" in said["3:reimage"]
    assert "would probe tcp 1" in said["6:health: tcp=1"]
    assert [(g["step"], g["gate"].split()[0]) for g in result.gates] == [
        ("3:reimage", "reimage"),
        ("7:approve: biology confirms", "approval:"),
        ("8:reconnect", "reconnect"),
    ]
    assert result.to_json()["gates"] == [dict(g) for g in result.gates]


def test_a_dry_run_is_never_resumed_for_real(tmp_path: Path) -> None:
    """Its steps are journaled as done: resumed as a real run, nothing would run at all."""
    services = [{"id": "s", "priority": 1, "hosts": ["h1"], "steps": [{"ssh": "true"}]}]
    _, journal = _run(tmp_path, services, ["h1"], dry_run=True)
    journal.close()
    with pytest.raises(InputError, match="was a dry run"):
        _run(tmp_path, services, ["h1"], resume=True)
