"""Runs of the real `restore` program on hosts reached through the local transport.

Shared by the modules that test the orchestrator's own processes, lock and journal
(test_run_safety, test_run_resume): a graph and an `ansible_connection: local` inventory
written for the test, `restore` started as a separate program, and its journal read back
read-only from this process, exactly as a second terminal would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from restore.execution.journal import Event, Journal, NoJournal


def write_case(
    tmp: Path, services: list[dict[str, object]], hosts: list[str], name: str = "local"
) -> tuple[Path, Path]:
    """A graph of `services` and an inventory of `hosts`, all reached on 127.0.0.1 locally."""
    graph = tmp / "graph.yaml"
    graph.write_text(
        yaml.safe_dump({"version": 1, "name": name, "services": services}, sort_keys=False)
    )
    inventory = tmp / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"ansible_connection": "local"},
                    "hosts": {h: {"ansible_host": "127.0.0.1"} for h in hosts},
                }
            }
        )
    )
    return graph, inventory


def ssh_step(cmd: str, **extra: object) -> dict[str, object]:
    """An `ssh:` step (run by the local transport here), with the step's common keys."""
    return {"ssh": cmd, **extra}


def restore_argv(*args: str, state: Path) -> list[str]:
    return [sys.executable, "-m", "restore", *args, "--state-dir", str(state)]


def call_restore(*args: str, state: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`restore ARGS --state-dir STATE`, run to its end."""
    return subprocess.run(
        restore_argv(*args, state=state),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def journal_events(state: Path) -> list[Event]:
    """The journal's events, read-only; none while the run has not created it yet."""
    try:
        journal = Journal(state, read_only=True)
    except NoJournal:
        return []
    try:
        return journal.events()
    finally:
        journal.close()


def started_steps(state: Path) -> int:
    """How many steps the journal says were started (a run's progress, from outside it)."""
    return sum(1 for e in journal_events(state) if e.event == "started")


def head_hash(state: Path) -> str:
    journal = Journal(state, read_only=True)
    try:
        return journal.head_hash()
    finally:
        journal.close()


def wait_for_journal(
    state: Path, proc: subprocess.Popen[str], seen: Callable[[list[Event]], bool]
) -> list[Event]:
    """The journal's events once `seen` says the live run `proc` got there (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before the point the test waits for"
        now = journal_events(state)
        if seen(now):
            return now
        time.sleep(0.05)
    raise AssertionError("the run never reached the point the test waits for")


def json_status(state: Path) -> dict[str, object]:
    """`restore status --format json`, which must succeed."""
    done = call_restore("status", "--format", "json", state=state)
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data
