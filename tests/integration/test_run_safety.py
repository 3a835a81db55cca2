"""The real night, through the real program: one run per state dir, dead runs seen as
interrupted, SIGTERM/SIGHUP/SIGKILL then --resume, operator decisions refused before anything
is written, and read commands that never create state.

Hosts are reached through the local transport (ansible_connection: local), as in
test_run_resume: what is under test is the orchestrator's processes, its lock and its
journal, and every run here is a real `restore` process started by subprocess. Each run's
journal is read back from a second process, exactly as a second terminal would.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from restore.execution.journal import Event, Journal

from .local_runs import (
    call_restore,
    head_hash,
    journal_events,
    json_status,
    restore_argv,
    ssh_step,
    wait_for_journal,
    write_case,
)

ME = pwd.getpwuid(os.getuid()).pw_name


def _all_at_once(
    commands: dict[str, tuple[str, ...]], state: Path
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Independent commands started together (each is a separate program start)."""
    procs = {
        name: subprocess.Popen(
            restore_argv(*args, state=state),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in commands.items()
    }
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def _waiting_at_gate(host: str) -> Callable[[list[Event]], bool]:
    return lambda events: any(
        e.host == host and e.event == "started" and e.detail.get("type") == "approve"
        for e in events
    )


def test_one_run_per_state_dir_and_decisions_checked_before_they_are_written(
    tmp_path: Path,
) -> None:
    """While a run waits at a gate: a second run, a --resume and a rehearse on its state dir
    are refused and write nothing; so is every bad decision; the good approval releases the
    gate and the first run finishes untouched. Once it has ended, decisions are refused."""
    services = [
        {
            "id": "app",
            "priority": 1,
            "hosts": ["a1", "b1"],
            "max_parallel": 2,
            "steps": [ssh_step("true", name="prepare"), {"approve": "the app owner agrees"}],
        },
        {
            "id": "late",
            "priority": 2,
            "hosts": ["c1"],
            "steps": [ssh_step("true", name="go"), {"approve": "late gate"}],
        },
    ]
    graph, inventory = write_case(tmp_path, services, ["a1", "b1", "c1"], name="safety")
    state = tmp_path / "state"
    base = ["run", str(graph), "-i", str(inventory), "--format", "json"]
    first = subprocess.Popen(
        restore_argv(*base, "--max-parallel", "2", state=state),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        events = wait_for_journal(
            state, first, lambda ev: _waiting_at_gate("a1")(ev) and _waiting_at_gate("b1")(ev)
        )
        run_id = events[0].run_id
        head = head_hash(state)

        refused = _all_at_once(
            {
                "run": tuple(base),
                "resume": (*base, "--resume"),
                "rehearse": ("rehearse", str(graph), "-i", str(inventory)),
            },
            state,
        )
        for second in refused.values():
            assert second.returncode == 2, second.stderr
            assert f"run {run_id} is in progress (pid {first.pid} on " in second.stderr
            assert " since " in second.stderr and "Traceback" not in second.stderr
        assert head_hash(state) == head and {e.run_id for e in journal_events(state)} == {run_id}
        record = json.loads((state / "run.lock").read_text())
        assert record["pid"] == first.pid and record["run_id"] == run_id
        assert record["user"] == ME and record["command"] == "run" and record["started"]
        status = json_status(state)
        assert (status["state"], status["live"]) == ("running", True)

        bad_decisions = {
            "a host with no gate waiting": ("approve", "c1", "--by", "alice"),
            "an unknown host": ("approve", "zz9", "--by", "alice"),
            "an empty --by": ("approve", "a1", "--by", ""),
            "another run than the live one": ("approve", "a1", "--by", "al", "--run", "r0"),
            "skip with an empty reason": ("skip", "a1", "1", "--by", "alice", "--reason", ""),
            "mark-done of an unknown step": ("mark-done", "a1", "9", "--by", "a", "--reason", "r"),
            "mark-done of a step already done": (
                "mark-done", "a1", "prepare", "--by", "a", "--reason", "r",
            ),
            "retry of a step running now": ("retry", "a1", "2", "--by", "a", "--reason", "r"),
        }  # fmt: skip
        for why, done in _all_at_once(bad_decisions, state).items():
            assert done.returncode == 2, (why, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr, why
        assert head_hash(state) == head, "a refused decision wrote to the journal"
        not_waiting = call_restore("approve", "c1", "--by", "alice", state=state).stderr
        assert "a1 (2:approve" in not_waiting and "b1 (2:approve" in not_waiting

        # c1 has not started: its gate is approved ahead of time, named by its step
        ahead = call_restore("approve", "c1", "--step", "2", "--by", "carol", state=state)
        assert ahead.returncode == 0, ahead.stderr
        for host in ("a1", "b1"):
            ok = call_restore(
                "approve", host, "--by", " alice ", "--reason", "ticket 7", state=state
            )
            assert ok.returncode == 0, ok.stderr
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert json.loads(out)["state"] == "succeeded"
    events = journal_events(state)
    assert {e.run_id for e in events} == {run_id}
    approvals = [e for e in events if e.event == "approved"]
    assert [(e.host, e.step) for e in approvals] == [
        ("c1", "2:approve: late gate"),
        ("a1", "2:approve: the app owner agrees"),
        ("b1", "2:approve: the app owner agrees"),
    ]
    (late_gate,) = [
        e
        for e in events
        if e.host == "c1" and e.event == "succeeded" and "approve" in (e.step or "")
    ]
    assert late_gate.detail["by"] == "carol"  # it passed on the approval given ahead
    assert approvals[1].detail == {
        "by": "alice",
        "reason": "ticket 7",
        "os_user": ME,
        "terminal": "none",
    }

    head = head_hash(state)
    after_the_end = {
        "approve": ("approve", "a1", "--by", "alice"),
        "skip": ("skip", "c1", "1", "--by", "alice", "--reason", "late"),
    }
    ended = _all_at_once(after_the_end, state)
    assert {why: done.returncode for why, done in ended.items()} == dict.fromkeys(ended, 2)
    assert "no run is in progress" in ended["approve"].stderr
    assert "nothing is left to decide" in ended["skip"].stderr
    assert head_hash(state) == head
    status = json_status(state)
    assert (status["state"], status["live"]) == ("succeeded", False)


def _stoppable(tmp: Path) -> tuple[list[str], Path, Path]:
    """a1 waits at a gate while a2's long step runs (only the first time it is started)."""
    marker = tmp / "long-ran"
    long_step = f"if [ -e {marker} ]; then true; else touch {marker}; sleep 60; fi"
    services = [
        {
            "id": "app",
            "priority": 1,
            "hosts": ["a1", "a2"],
            "max_parallel": 2,
            "steps": [ssh_step("true", name="prepare"), {"approve": "go ahead"}],
        },
        {"id": "db", "priority": 1, "hosts": ["d1"], "steps": [ssh_step(long_step, name="long")]},
    ]
    graph, inventory = write_case(tmp, services, ["a1", "a2", "d1"], name="safety")
    state = tmp / "state"
    return ["run", str(graph), "-i", str(inventory), "--max-parallel", "3"], state, marker


def _start_and_stop(
    base: list[str], state: Path, marker: Path, how: signal.Signals
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        restore_argv(*base, state=state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_journal(state, proc, lambda ev: _waiting_at_gate("a1")(ev) and marker.exists())
        wait_for_journal(state, proc, _waiting_at_gate("a2"))
        proc.send_signal(how)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _states_by_reader(state: Path, base: list[str]) -> dict[str, dict[str, str]]:
    """Each host's state as `restore status`, `restore report` and the live view (after a
    --resume) tell it: all three read the one fold of the journal (restore.execution.run_fold)."""
    from restore.cli.live_view import LiveProgress, shown
    from restore.inputs.graph import load_graph
    from restore.inputs.inventory import load_inventory
    from restore.planning.plan import build_plan

    report = state.parent / "report.json"
    done = call_restore("report", "--format", "json", "-o", str(report), state=state)
    assert done.returncode == 0, done.stderr
    status = json_status(state)
    plan = build_plan(load_graph(Path(base[1])), load_inventory(Path(base[3])))
    journal = Journal(state, read_only=True)
    try:
        live = LiveProgress(journal=journal, tty=False, quiet=True)
        live.run_started(str(status["run_id"]), plan, resumed=True)
        rows = {n: shown(r, live.fold.view.hosts.get(n)).state for n, r in live.rows.items()}
    finally:
        journal.close()
    return {
        "status": {h["host"]: h["state"] for h in status["hosts"]},  # type: ignore[attr-defined]
        "report": {h["host"]: h["state"] for h in json.loads(report.read_text())["hosts"]},
        "live view": rows,
    }


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_a_run_like_ctrl_c_and_it_resumes(
    tmp_path: Path, how: signal.Signals
) -> None:
    base, state, marker = _stoppable(tmp_path)
    stopped = _start_and_stop(base, state, marker, how)
    assert stopped.returncode == 130, stopped.stderr
    assert how.name in stopped.stderr and "--resume" in stopped.stderr
    assert "Traceback" not in stopped.stderr

    events = journal_events(state)
    cut = {(e.host, e.step): e.detail for e in events if e.event == "interrupted"}
    assert set(cut) == {
        ("a1", "2:approve: go ahead"),
        ("a2", "2:approve: go ahead"),
        ("d1", "1:long"),
    }
    assert all(d["signal"] == how.name for d in cut.values())
    assert not [e for e in events if e.event in {"failed", "timed_out"}]
    assert "deadline" not in json.dumps([e.detail for e in events])
    (end,) = [e for e in events if e.event == "run_interrupted"]
    assert end.detail["signal"] == how.name and end.seq == events[-1].seq
    status = json_status(state)
    assert (status["state"], status["live"]) == ("interrupted", False)
    assert status["last_event_at"] == end.ts
    hosts = {h["host"]: h["state"] for h in status["hosts"]}  # type: ignore[attr-defined]
    assert hosts == {"a1": "interrupted", "a2": "interrupted", "d1": "interrupted"}
    if how is signal.SIGHUP:
        return  # the same resume as after SIGTERM, below

    # --resume: the gates that were waiting wait again, and take an approval.
    resumed = subprocess.Popen(
        restore_argv(*base, "--resume", "--format", "json", state=state),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        after = len(events)
        for host in ("a1", "a2"):
            waiting_again = _waiting_at_gate(host)
            wait_for_journal(state, resumed, lambda ev: waiting_again(ev[after:]))  # noqa: B023
            ok = call_restore("approve", host, "--by", "bob", state=state)
            assert ok.returncode == 0, ok.stderr
        out, err = resumed.communicate(timeout=120)
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.wait()
    assert resumed.returncode == 0, err
    assert json.loads(out)["state"] == "succeeded"
    events = journal_events(state)
    assert len({e.run_id for e in events}) == 1
    assert [e.detail["previous_state"] for e in events if e.event == "run_resumed"] == [
        "interrupted"
    ]
    assert _states_by_reader(state, base) == {
        "status": {"a1": "restored", "a2": "restored", "d1": "restored"},
        "report": {"a1": "restored", "a2": "restored", "d1": "restored"},
        "live view": {"a1": "restored", "a2": "restored", "d1": "restored"},
    }


def test_a_sigkilled_run_is_interrupted_for_the_next_command_and_resumes(tmp_path: Path) -> None:
    base, state, marker = _stoppable(tmp_path)
    stopped = _start_and_stop(base, state, marker, signal.SIGKILL)
    assert stopped.returncode == -signal.SIGKILL
    killed = journal_events(state)
    assert not [e for e in killed if e.event in {"interrupted", "run_interrupted"}]

    status = json_status(state)  # the journal still says running; the lock says otherwise
    assert (status["state"], status["live"]) == ("interrupted", False)
    assert status["last_event_at"] == killed[-1].ts
    table = call_restore("status", state=state)
    assert "interrupted" in table.stdout and "running" not in table.stdout

    head = head_hash(state)
    refused = call_restore("approve", "a1", "--by", "alice", state=state)
    assert refused.returncode == 2 and "no run is in progress" in refused.stderr
    assert head_hash(state) == head

    done = call_restore(*base, "--resume", "--yes", "--format", "json", state=state)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "succeeded"
    events = journal_events(state)
    assert len({e.run_id for e in events}) == 1
    (resumed,) = [e for e in events if e.event == "run_resumed"]
    assert resumed.detail["previous_state"] == "interrupted"
    assert call_restore("journal", "verify", state=state).returncode == 0


def test_read_commands_never_create_state(tmp_path: Path) -> None:
    graph, inventory = write_case(
        tmp_path, [{"id": "a", "priority": 1, "hosts": ["a1"]}], ["a1"], name="safety"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing"
    commands: dict[str, tuple[str, ...]] = {
        " ".join(args[:2]): args
        for args in [
            ("status",),
            ("status", "--format", "json"),
            ("journal", "verify"),
            ("journal", "export", "--format", "json"),
            ("report", "--format", "md"),
            ("run", str(graph), "-i", str(inventory), "--resume"),
            ("approve", "a1", "--by", "alice"),
            ("skip", "a1", "host", "--by", "alice", "--reason", "r"),
        ]
    }
    missing_too = {
        k: v for k, v in commands.items() if k in {"status", "journal verify"} or v[0] == "run"
    }
    for state, which in (
        (empty, commands),
        (missing, missing_too),
    ):
        for args, done in _all_at_once(which, state).items():
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert f"no journal in {state}" in done.stderr, (args, done.stderr)
            assert "intact" not in done.stdout + done.stderr
    assert list(empty.iterdir()) == [] and not missing.exists()

    # A journal with no event is not "intact" either: it proves nothing.
    Journal(empty).close()
    files = sorted(p.name for p in empty.iterdir())
    verify = call_restore("journal", "verify", state=empty)
    assert verify.returncode == 2 and "intact" not in verify.stdout + verify.stderr
    assert sorted(p.name for p in empty.iterdir() if p.name in files) == files
