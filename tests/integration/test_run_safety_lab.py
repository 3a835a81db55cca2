"""Run safety on real lab hosts, through the installed `restore` binary (issue 13).

test_run_safety proves the lock, SIGTERM and --resume with hosts reached through the local
transport; here the same night runs against two real lab hosts (sshd in namespaces, real
checks over SSH, real quarantine): a second run is refused while the first waits at a gate,
SIGTERM leaves a resumable `interrupted` run, and --resume ends with the hosts reconnected
on the lab's own network. Every command is a separate `restore` process, as from a second
terminal.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from restore.execution.journal import Event
from restore.lab import Lab
from restore.models import Platform
from tests.integration.local_runs import head_hash, journal_events, wait_for_journal
from tests.integration.test_run_safety import _waiting_at_gate

pytestmark = pytest.mark.lab

RESTORE = str(Path(sys.executable).parent / "restore")
GATED, PLAIN = "gate1", "plain1"


@pytest.fixture(scope="module")
def lab_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Two quarantined Linux lab hosts (the lab's state dir, its inventory); torn down
    whatever the test did."""
    state = tmp_path_factory.mktemp("safety-lab")
    lab = Lab(state)
    try:
        inventory = lab.up([(GATED, Platform.LINUX), (PLAIN, Platform.LINUX)])
        for name in lab.hosts:
            lab.quarantine(name, True)
        yield state, inventory
    finally:
        Lab(state).down()  # reload: the runs changed the lab's state from other processes


def _restore(*args: str, state: Path) -> list[str]:
    return [RESTORE, *args, "--state-dir", str(state)]


def _call(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _restore(*args, state=state), capture_output=True, text=True, timeout=120, check=False
    )


def _start(*args: str, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _restore(*args, state=state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _done(events: list[Event]) -> bool:
    return any(
        e.host == PLAIN and e.event == "state" and e.detail.get("state") == "reconnected"
        for e in events
    )


def test_lab_run_is_exclusive_stops_on_sigterm_and_resumes_to_reconnected(
    tmp_path: Path, lab_hosts: tuple[Path, Path]
) -> None:
    lab_state, lab_inventory = lab_hosts
    graph = tmp_path / "graph.yaml"
    services = [
        {
            "id": "app",
            "priority": 1,
            "hosts": [GATED],
            "steps": ["check", {"approve": "the app owner agrees"}, "reconnect"],
        },
        {"id": "base", "priority": 2, "hosts": [PLAIN], "steps": ["check", "reconnect"]},
    ]
    graph.write_text(yaml.safe_dump({"version": 1, "name": "safety-lab", "services": services}))
    state = tmp_path / "state"
    base = ["run", str(graph), "-i", str(lab_inventory), "--max-parallel", "2"]

    first = _start(*base, state=state)
    try:
        # (1) while the first run waits at the gate, a second run is refused and writes nothing
        # (the other host is done first, so that nothing else writes to the journal meanwhile)
        events = wait_for_journal(
            state, first, lambda ev: _waiting_at_gate(GATED)(ev) and _done(ev)
        )
        run_id = events[0].run_id
        head = head_hash(state)
        second = _call(*base, state=state)
        assert second.returncode == 2, second.stderr
        assert f"run {run_id} is in progress (pid {first.pid} on " in second.stderr
        assert " since " in second.stderr and "Traceback" not in second.stderr
        assert head_hash(state) == head
        assert {e.run_id for e in journal_events(state)} == {run_id}

        # (2) SIGTERM: the run stops cleanly, exit 130, and status says interrupted
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    finally:
        _stop(first)
    assert first.returncode == 130, err
    assert "SIGTERM" in err and "--resume" in err and "Traceback" not in err
    status = _call("status", "--format", "json", state=state)
    assert status.returncode == 0, status.stderr
    stopped = json.loads(status.stdout)
    assert (stopped["state"], stopped["live"]) == ("interrupted", False)
    assert {h["host"]: h["state"] for h in stopped["hosts"]}[GATED] == "interrupted"
    cut = [e for e in journal_events(state) if e.event == "interrupted" and e.host == GATED]
    assert [e.detail["signal"] for e in cut] == ["SIGTERM"]
    # the gate was never passed: the gated host is still cut off on the lab's network
    assert {h["host"]: h["quarantined"] for h in Lab(lab_state).status()}[GATED] is True

    # (3) --resume finishes the same run once the gate is approved from another process
    after = len(journal_events(state))
    resumed = _start(*base, "--resume", "--format", "json", state=state)
    try:
        wait_for_journal(state, resumed, lambda ev: _waiting_at_gate(GATED)(ev[after:]))
        approved = _call("approve", GATED, "--by", "alice", state=state)
        assert approved.returncode == 0, approved.stderr
        out, err = resumed.communicate(timeout=120)
    finally:
        _stop(resumed)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert (result["run_id"], result["state"]) == (run_id, "succeeded")
    assert {h["host"]: h["state"] for h in result["hosts"]} == {
        GATED: "reconnected",
        PLAIN: "reconnected",
    }
    events = journal_events(state)
    assert {e.run_id for e in events} == {run_id}
    assert [e.detail["previous_state"] for e in events if e.event == "run_resumed"] == [
        "interrupted"
    ]
    reconnects = [e for e in events if e.event == "succeeded" and "reconnect" in (e.step or "")]
    assert {e.host: e.detail.get("via") for e in reconnects} == {GATED: "lab", PLAIN: "lab"}
    (approval,) = [e for e in events if e.event == "approved"]
    assert (approval.host, approval.detail["by"]) == (GATED, "alice")
    verified = _call("journal", "verify", state=state)
    assert verified.returncode == 0, verified.stderr
    quarantined = {h["host"]: h["quarantined"] for h in Lab(lab_state).status()}
    assert quarantined == {GATED: False, PLAIN: False}
