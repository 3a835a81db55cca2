"""The run lock on a real file with real flock, and the operator-decision rules (pure)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from restore.errors import InputError
from restore.execution.journal import Event, Journal, NoJournal
from restore.execution.operator_decisions import (
    check_approval,
    check_step_decision,
    check_who,
    decision_run,
    liveness,
    waiting_at_gate,
)
from restore.execution.run_state import replay
from restore.execution.runlock import LOCK_NAME, LockHolder, RunInProgress, RunLock, live_holder

HOLD = """
import sys, time
from pathlib import Path
from restore.execution.runlock import RunLock
lock = RunLock(Path(sys.argv[1]), "run").acquire()
lock.set_run_id("R-child")
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_lock_is_refused_with_the_holders_record(tmp_path: Path) -> None:
    with RunLock(tmp_path, "run") as lock:
        lock.set_run_id("R1")
        with pytest.raises(RunInProgress) as refused:
            RunLock(tmp_path, "resume").acquire()
        assert refused.value.exit_code == 2
        assert f"run R1 is in progress (pid {os.getpid()} on " in str(refused.value)
        holder = live_holder(tmp_path)
        assert holder is not None and (holder.pid, holder.run_id) == (os.getpid(), "R1")
        record = json.loads((tmp_path / LOCK_NAME).read_text())
        assert set(record) == {"pid", "host", "user", "started", "command", "run_id"}
        assert (tmp_path / LOCK_NAME).stat().st_mode & 0o777 == 0o600
    assert live_holder(tmp_path) is None  # released: the record stays, but is not believed
    assert json.loads((tmp_path / LOCK_NAME).read_text())["run_id"] == "R1"
    RunLock(tmp_path, "run").acquire().release()


def test_probing_creates_nothing(tmp_path: Path) -> None:
    assert live_holder(tmp_path / "nowhere") is None
    assert live_holder(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_a_killed_holder_frees_the_lock_at_once(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        holder = live_holder(tmp_path)
        assert holder is not None and (holder.pid, holder.run_id) == (child.pid, "R-child")
        with pytest.raises(RunInProgress):
            RunLock(tmp_path, "run").acquire()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert live_holder(tmp_path) is None
        RunLock(tmp_path, "resume").acquire().release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_forked_child_does_not_keep_the_lock(tmp_path: Path) -> None:
    lock = RunLock(tmp_path, "run").acquire()
    pid = os.fork()
    if pid == 0:  # the child outlives the holder's release; it must not hold the lock
        time.sleep(3)
        os._exit(0)
    try:
        lock.release()
        assert live_holder(tmp_path) is None
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_read_only_journal_needs_an_existing_one(tmp_path: Path) -> None:
    with pytest.raises(NoJournal) as missing:
        Journal(tmp_path / "typo", read_only=True)
    assert missing.value.exit_code == 2 and "no journal in" in str(missing.value)
    with pytest.raises(NoJournal):
        Journal(tmp_path, existing=True)
    assert list(tmp_path.iterdir()) == []
    writer = Journal(tmp_path)
    writer.append("R", "run_started")
    reader = Journal(tmp_path, read_only=True)
    assert [e.event for e in reader.events()] == ["run_started"]
    with pytest.raises(Exception, match="readonly"):
        reader._db.execute("DELETE FROM events")


# -- operator decisions (pure) ----------------------------------------------------------------


def _ev(
    seq: int, event: str, host: str | None = None, step: str | None = None, **d: object
) -> Event:
    return Event(seq, "R", f"2026-01-01T00:00:{seq:02d}", host, "svc", step, event, dict(d), "", "")


GATE = "2:approve: ok"
EVENTS = [
    _ev(1, "run_started", hosts=[{"host": "a1", "service": "svc"}, {"host": "b1"}]),
    _ev(2, "started", "a1", "1:prep", type="ssh"),
    _ev(3, "succeeded", "a1", "1:prep"),
    _ev(4, "started", "a1", GATE, type="approve"),
    _ev(5, "started", "b1", "1:prep", type="ssh"),
]


def test_who_must_be_named_and_why_said() -> None:
    assert check_who(" alice ", " why ", True) == ("alice", "why")
    assert check_who("alice", "", False) == ("alice", None)
    for by, reason in (("", "r"), ("  ", "r"), ("alice", ""), ("alice", "  ")):
        with pytest.raises(InputError):
            check_who(by, reason, True)


def test_only_a_host_waiting_at_a_gate_is_approved() -> None:
    assert waiting_at_gate(EVENTS) == {"a1": GATE}
    assert check_approval(EVENTS, "R", "a1", None, []) == GATE
    with pytest.raises(InputError, match=r"b1 is not waiting .*waiting now: a1 \(2:approve"):
        check_approval(EVENTS, "R", "b1", None, [])
    with pytest.raises(InputError, match="not in run R"):
        check_approval(EVENTS, "R", "zz", None, [])
    # named ahead of time: only an approve step of that host, not yet done
    assert check_approval(EVENTS, "R", "b1", "3:approve: x", ["3:approve: x"]) == "3:approve: x"
    with pytest.raises(InputError, match="no approve step"):
        check_approval(EVENTS, "R", "b1", "1:prep", ["3:approve: x"])
    ended = [*EVENTS, _ev(6, "succeeded", "a1", GATE)]
    assert waiting_at_gate(ended) == {}
    with pytest.raises(InputError, match="already done"):
        check_approval(ended, "R", "a1", GATE, [GATE])


def test_step_decisions_target_steps_that_can_still_change() -> None:
    hosts = replay(EVENTS)
    with pytest.raises(InputError, match="running now"):
        check_step_decision("retry", hosts["a1"], "R", GATE, live=True)
    check_step_decision("retry", hosts["a1"], "R", GATE, live=False)  # its process is gone
    with pytest.raises(InputError, match="already succeeded"):
        check_step_decision("mark-done", hosts["a1"], "R", "1:prep", live=False)
    with pytest.raises(InputError, match="nothing to retry"):
        check_step_decision("retry", hosts["a1"], "R", "3:later", live=False)
    check_step_decision("skip", hosts["a1"], "R", "3:later", live=True)
    check_step_decision("skip", hosts["b1"], "R", None, live=True)


class _Runs:
    """The two Journal methods decision_run reads, over fixed records."""

    def __init__(self, state: str) -> None:
        from restore.execution.journal import RunRecord

        self.state_dir = Path("/nowhere")
        self.record = RunRecord("R", "t", "t", "g", "h", "i", {}, state)

    def run(self, run_id: str | None = None) -> object:
        return self.record if run_id in (None, "R") else None


def test_decisions_go_to_the_live_run_or_to_one_resume_would_continue() -> None:
    live = LockHolder(1, "h", "u", "t", "run", "R")
    assert decision_run(_Runs("running"), live, None, approval=True) == "R"  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not the live run"):
        decision_run(_Runs("running"), live, "R0", approval=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="no run is in progress"):
        decision_run(_Runs("needs_operator"), None, None, approval=True)  # type: ignore[arg-type]
    for state in ("needs_operator", "interrupted", "failed", "running"):  # running: dead
        assert decision_run(_Runs(state), None, None, approval=False) == "R"  # type: ignore[arg-type]
    with pytest.raises(InputError, match="nothing is left to decide"):
        decision_run(_Runs("succeeded"), None, None, approval=False)  # type: ignore[arg-type]


def test_liveness_comes_from_the_lock() -> None:
    record = _Runs("running").record
    holder = LockHolder(1, "h", "u", "t", "run", "R")
    assert liveness(record, EVENTS, holder).state == "running"
    dead = liveness(record, EVENTS, None)
    assert (dead.state, dead.live, dead.last_event_at) == ("interrupted", False, EVENTS[-1].ts)
    other = LockHolder(1, "h", "u", "t", "run", "R2")
    assert liveness(record, EVENTS, other).state == "interrupted"


def _probe_held(state: Path) -> int:
    """What `live_holder` holds for an instant: a shared lock on a read-only descriptor."""
    import fcntl

    fd = os.open(state / LOCK_NAME, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    return fd


def test_two_probes_at_the_same_instant_never_see_a_live_run(tmp_path: Path) -> None:
    # CI saw it: `approve` and `skip` run together after a run ended, one probe took the other
    # for the live run ("a1 is not waiting at an approve gate in run ...")
    RunLock(tmp_path, "run").acquire().release()
    fd = _probe_held(tmp_path)
    try:
        assert live_holder(tmp_path) is None
    finally:
        os.close(fd)


def test_a_run_starting_during_a_probe_waits_for_it_instead_of_refusing(tmp_path: Path) -> None:
    import threading

    RunLock(tmp_path, "run").acquire().release()
    fd = _probe_held(tmp_path)
    threading.Timer(0.3, os.close, args=(fd,)).start()  # the probe ends a moment later
    lock = RunLock(tmp_path, "run").acquire()
    try:
        assert live_holder(tmp_path) is not None  # and now the run is seen as live
    finally:
        lock.release()
