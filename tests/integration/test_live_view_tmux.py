"""The live view in a real terminal: the real `restore run` inside tmux on lab hosts.

What a crisis cell needs from the screen, read back with `tmux capture-pane`:
  - the clock of a waiting approval moves (two captures a few seconds apart differ);
  - the gate's whole text is on screen (longer than any column), taken as text (no markup),
    with the exact command that releases it;
  - the header shows the priority-1 service's time since the incident against its RTO;
  - a health probe's tries show as "try N, last: ...";
  - approving from another process lets the run go on; after an interrupt, `--resume` shows
    every host in its journaled state (the finished one `restored`, not `pending`);
  - Tab completes the run's hosts and step keys for the operator commands;
  - `restore lab up` draws a progress bar counting its twins.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from restore.lab import Lab
from restore.models import Platform

GATE = (
    "Rotate krbtgt twice, ten hours apart, before releasing the domain controllers; "
    "[bold red]this is not markup[/] and the pharmacy must confirm that the dispensing "
    "robots reconnected to the directory without a new enrolment (call 4412 first)"
)
SECOND_GATE = "Records office confirms the EHR shows yesterday's admissions"
WIDTH, HEIGHT = 150, 60


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    state = tmp_path_factory.mktemp("live-view-lab")
    the_lab = Lab(state / "lab")
    try:
        inventory = the_lab.up([("db1", Platform.LINUX), ("ehr1", Platform.LINUX)])
        yield state, inventory
    finally:
        Lab(state / "lab").down()


class Terminal:
    """A tmux server of the test's own (its own socket), one window of a fixed size."""

    def __init__(self, folder: Path) -> None:
        self.socket = folder / "tmux.sock"
        self.folder = folder

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def start(self, name: str, argv: list[str]) -> Path:
        """Run argv in a new window; its exit code lands in the returned file."""
        rc = self.folder / f"{name}.rc"
        env = {
            "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path(__file__).parents[2])),
            "PATH": os.environ["PATH"],
            "TERM": "xterm-256color",
        }
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        command = f"env -u COLUMNS -u LINES {exports} {' '.join(_quote(a) for a in argv)}; echo $? > {_quote(str(rc))}"
        self.tmux("new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), command)
        # keep the pane after the program ends, to read its last screen
        self.tmux("set-option", "-t", name, "remain-on-exit", "on")
        return rc

    def screen(self, name: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", name)

    def wait_for(self, name: str, needle: str, deadline_s: float = 120.0) -> str:
        end = time.monotonic() + deadline_s
        screen = ""
        while time.monotonic() < end:
            screen = self.screen(name)
            if needle in _flat(screen):
                return screen
            time.sleep(0.3)
        raise AssertionError(f"{needle!r} never appeared on screen:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _flat(screen: str) -> str:
    """The screen without its line breaks and table borders' padding: wrapped text joined."""
    return re.sub(r"[\s│┃|]+", "", screen)


def _wait_rc(path: Path, deadline_s: float = 120.0) -> int:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.3)
    raise AssertionError(f"the program never ended ({path})")


def _row(screen: str, host: str) -> str:
    return next(
        line for line in screen.splitlines() if line.startswith("│") and f" {host} " in line
    )


def _elapsed(screen: str, host: str) -> str:
    match = re.search(r"(\d+(?:m\d+)?s?) / 10m", _row(screen, host))
    assert match, _row(screen, host)
    return match.group(1)


def test_live_view_in_tmux(lab: tuple[Path, Path], tmp_path: Path) -> None:
    _state, inventory = lab
    incident = (datetime.now(UTC) - timedelta(minutes=50)).isoformat(timespec="seconds")
    graph = tmp_path / "graph.yaml"
    flag = tmp_path / "ehr-is-up"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "live view",
                "incident": {"declared_at": incident},
                "services": [
                    {
                        "id": "db",
                        "priority": 1,
                        "rto": "1h",
                        "hosts": ["db1"],
                        "steps": [{"health": {"tcp": 22}}, {"approve": GATE, "timeout": "10m"}],
                    },
                    {
                        "id": "ehr",
                        "priority": 1,
                        "rto": "8h",
                        "depends_on": ["db"],
                        "hosts": ["ehr1"],
                        "steps": [
                            {"health": {"command": f"test -e {flag}"}, "timeout": "10m"},
                            {"approve": SECOND_GATE, "timeout": "10m"},
                        ],
                    },
                ],
            },
            sort_keys=False,
        )
    )
    run_state = tmp_path / "state"
    argv = [
        sys.executable,
        "-m",
        "restore",
        "run",
        str(graph),
        "-i",
        str(inventory),
        "--state-dir",
        str(run_state),
    ]
    term = Terminal(tmp_path)
    try:
        rc_file = term.start("first", argv)
        first = term.wait_for("first", "releasewith:")
        time.sleep(2.5)
        second = term.screen("first")
        # the waiting step's clock moves while nothing happens
        assert _elapsed(first, "db1") != _elapsed(second, "db1"), (first, second)
        (tmp_path / "screen.txt").write_text(second)
        flat = _flat(second)
        assert _flat(GATE) in flat  # whole, and the brackets shown as typed
        release = f"restore approve db1 --by NAME --state-dir {run_state}"
        assert _flat(release) in flat
        # the header: time since the incident against the RTO (amber: 50 min of 1h)
        assert re.search(r"db\s+since 5\dm\d*s? \(incident\) / RTO 1h", second), second
        assert "ehr" in second and "RTO 8h" in second
        # rows in the start order: db1 first
        assert second.index(" db1 ") < second.index(" ehr1 ")
        _approve(run_state, "db1")
        term.wait_for("first", "try2,last:test-e")
        term.tmux("send-keys", "-t", "first", "C-c")
        assert _wait_rc(rc_file) == 130

        rc_file = term.start("second", [*argv, "--resume"])
        # the probe's tries are visible while it retries
        probing = term.wait_for("second", "try3,last:test-e")
        assert "restored" in _row(probing, "db1"), probing  # journaled, not `pending`
        assert "pending" not in _row(probing, "db1")
        flag.touch()
        term.wait_for("second", "WAITINGehr1")
        _approve(run_state, "ehr1")
        assert _wait_rc(rc_file) == 0, term.screen("second")
    finally:
        term.kill()
    # shell completion (Tab) of the operator commands, from this run's journal, read-only
    assert _complete(tmp_path, "approve", "--state-dir", str(run_state), "") == ["db1", "ehr1"]
    steps = _complete(tmp_path, "skip", "--state-dir", str(run_state), "ehr1", "")
    assert steps[0].startswith("1:health") and steps[1].startswith("2:approve")
    assert steps[-1] == "host"
    assert _complete(tmp_path, "approve", "e") == []  # no run in this folder: nothing, no error
    assert not (tmp_path / ".restore").exists()


def _complete(folder: Path, *words: str) -> list[str]:
    """What bash's Tab offers after `restore WORDS` (the last word is being typed)."""
    env = {
        **os.environ,
        "_RESTORE_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(("restore", *words)),
        "COMP_CWORD": str(len(words)),
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "restore")],  # completion keys on the program name
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if line]


def _approve(state: Path, host: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "restore",
            "approve",
            host,
            "--by",
            "test",
            "--state-dir",
            str(state),
        ],
        check=True,
        capture_output=True,
    )


def test_lab_up_shows_a_progress_bar_in_a_terminal(tmp_path: Path) -> None:
    """`restore lab up` of many twins draws a bar that counts them (rich, on a terminal)."""
    state = tmp_path / "lab"
    term = Terminal(tmp_path)
    argv = [sys.executable, "-m", "restore", "lab", "up", "--linux", "30"]
    try:
        rc_file = term.start("up", [*argv, "--state-dir", str(state)])
        screen = term.wait_for("up", "/30")
        assert re.search(r"lab up .*\b\d+/30\b", screen), screen
        assert _wait_rc(rc_file) == 0, term.screen("up")
    finally:
        term.kill()
        subprocess.run(
            [sys.executable, "-m", "restore", "lab", "down", "--state-dir", str(state)],
            capture_output=True,
            check=False,
        )
