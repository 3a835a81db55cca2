"""Findings: state that another local user could turn against root.

- The plan cache was a pickle in ./.restore/cache: whoever could write it ran code as root at
  the next `restore plan`. Now it is JSON in the user's private cache folder.
- The state dir was used whatever its owner and mode, and the journal, reports and custody
  records were world-readable. Now it is refused unless it is the user's alone, and new
  state is 0700/0600.
"""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import pytest


class _Pwn:
    """A pickle that runs a command when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _restore(cwd: Path, *args: str, xdg: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg)}
    return subprocess.run(
        [sys.executable, "-m", "restore", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def _graph_and_inventory(tmp_path: Path) -> tuple[Path, Path]:
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "version: 1\nname: state\nservices:\n"
        "  - id: web\n    priority: 1\n    hosts: [web01]\n"
        "    steps: [{ssh: 'echo rebuilt'}, {approve: 'ok?'}]\n"
    )
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    web01:\n      ansible_host: 127.0.0.1\n")
    return graph, inventory


def test_a_planted_cache_file_never_runs_code(tmp_path: Path) -> None:
    graph, inventory = _graph_and_inventory(tmp_path)
    xdg, state = tmp_path / "xdg", tmp_path / "state"
    args = ["plan", str(graph), "-i", str(inventory), "--format", "json", "--state-dir", str(state)]
    first = _restore(tmp_path, *args, xdg=xdg)
    assert first.returncode == 0, first.stderr
    cache_files = [p for p in [*state.rglob("*"), *xdg.rglob("*")] if p.is_file()]
    assert cache_files, "the plan is cached somewhere"
    marker = tmp_path / "pwned"
    for path in cache_files:  # an attacker who can write the caches writes a pickle there
        path.write_bytes(pickle.dumps(_Pwn(marker)))
    again = _restore(tmp_path, *args, xdg=xdg)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert not marker.exists(), "a cache file was unpickled: code ran as root"
    assert not list(state.rglob("*.pickle")) and not list(xdg.rglob("*.pickle"))
    assert stat.S_IMODE((xdg / "restore").stat().st_mode) == 0o700


def test_new_state_is_private(tmp_path: Path) -> None:
    graph, inventory = _graph_and_inventory(tmp_path)
    state = tmp_path / "state"
    done = _restore(
        tmp_path,
        *["run", str(graph), "-i", str(inventory), "--dry-run", "--yes"],
        *["--state-dir", str(state)],
        xdg=tmp_path / "xdg",
    )
    assert done.returncode == 0, done.stderr
    report = tmp_path / "report.md"
    done = _restore(
        tmp_path,
        *["report", "--format", "md", "-o", str(report), "--state-dir", str(state)],
        xdg=tmp_path / "xdg",
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    entries = [state, *state.rglob("*")]
    assert any(p.name.startswith("journal") for p in entries)
    for path in entries:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        if path.is_dir():
            assert mode == 0o700, f"{path} is {oct(mode)}"
        else:
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


@pytest.mark.parametrize("problem", ["world-writable", "group-writable", "other owner"])
def test_a_state_dir_others_can_write_is_refused(tmp_path: Path, problem: str) -> None:
    graph, inventory = _graph_and_inventory(tmp_path)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    if problem == "world-writable":
        state.chmod(0o777)
    elif problem == "group-writable":
        state.chmod(0o770)
    else:
        os.chown(state, 65534, 65534)
    for command in (
        ["status"],
        ["run", str(graph), "-i", str(inventory), "--dry-run", "--yes"],
        ["plan", str(graph), "-i", str(inventory)],
    ):
        done = _restore(tmp_path, *command, "--state-dir", str(state), xdg=tmp_path / "xdg")
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert str(state) in done.stderr and "chmod 700" in done.stderr
        if problem == "other owner":
            assert "chown" in done.stderr
        assert "Traceback" not in done.stderr
    assert list(state.iterdir()) == []


def test_a_symlink_to_a_shared_folder_or_a_file_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: anyone may create files there
    link = tmp_path / "state-link"
    link.symlink_to(shared)
    plain_file = tmp_path / "state-file"
    plain_file.write_text("not a folder")
    for state in (link, plain_file):
        done = _restore(tmp_path, "status", "--state-dir", str(state), xdg=tmp_path / "xdg")
        assert done.returncode == 2, done.stderr
        assert str(state) in done.stderr and "Traceback" not in done.stderr


def test_an_unsafe_cache_folder_is_not_used(tmp_path: Path) -> None:
    graph, inventory = _graph_and_inventory(tmp_path)
    xdg = tmp_path / "xdg"
    (xdg / "restore").mkdir(parents=True)
    (xdg / "restore").chmod(0o777)  # someone else could plant a cache file there
    args = ["plan", str(graph), "-i", str(inventory), "--format", "json"]
    done = _restore(tmp_path, *args, "--state-dir", str(tmp_path / "state"), xdg=xdg)
    assert done.returncode == 0, done.stderr
    assert list((xdg / "restore").iterdir()) == []  # nothing written to (or read from) it
