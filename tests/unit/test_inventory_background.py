"""The inventory loaded in a forked child while the graph is validated: same results, same
errors, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from restore.cli.app import app
from restore.cli.entry import sniff_planning_paths

from .graphs import service, write_graph, write_inventory

runner = CliRunner()


# The fork is skipped in a process with other threads (as a step left running by another
# test can be), so each case runs in a fresh interpreter, which records what it forked and
# whether each child was waited for.
_PRELUDE = """
import json, os, signal, sys
from pathlib import Path
forked = []
_real_fork = os.fork
def _recording_fork():
    pid = _real_fork()
    if pid:
        forked.append(pid)
    return pid
os.fork = _recording_fork
def reaped():
    for pid in forked:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return True
from restore.planning.inventory_background import start_loading_inventory
"""


def _in_fresh_interpreter(body: str, *args: str | Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PRELUDE + textwrap.dedent(body), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_child_returns_what_loading_here_returns(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, {"db": ["db1"], "ad": ["dc1"]}, windows=("dc1",))
    seen = _in_fresh_interpreter(
        """
        from restore.inputs.inventory import load_inventory
        source, cache = Path(sys.argv[1]), Path(sys.argv[2])
        loaded = start_loading_inventory(source, cache).result()
        same = loaded == load_inventory(source)
        print(json.dumps({"forked": len(forked), "reaped": reaped(), "same": same,
                          "dc1": loaded.host("dc1").platform.value}))
        """,
        inventory,
        tmp_path / "cache",
    )
    assert seen == {"forked": 1, "reaped": True, "same": True, "dc1": "windows"}


def test_an_inventory_error_in_the_child_keeps_its_file_and_hint(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yml"
    seen = _in_fresh_interpreter(
        """
        from restore.errors import InputError
        load = start_loading_inventory(Path(sys.argv[1]), Path(sys.argv[2]))
        try:
            load.result()
            error = None
        except InputError as exc:
            error = {"file": exc.file, "hint": exc.hint}
        print(json.dumps({"forked": len(forked), "reaped": reaped(), "error": error}))
        """,
        missing,
        tmp_path / "cache",
    )
    assert seen["forked"] == 1 and seen["reaped"]
    assert seen["error"]["file"] == str(missing) and seen["error"]["hint"]


def test_a_child_that_dies_is_replaced_by_loading_here(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, {"db": ["db1"]})
    seen = _in_fresh_interpreter(
        """
        import restore.inputs.inventory
        parent, real = os.getpid(), restore.inputs.inventory.load_inventory
        def killed_in_the_child(*args, **kwargs):
            if os.getpid() != parent:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        restore.inputs.inventory.load_inventory = killed_in_the_child
        loaded = start_loading_inventory(Path(sys.argv[1]), Path(sys.argv[2])).result()
        print(json.dumps({"forked": len(forked), "reaped": reaped(),
                          "hosts": [h.name for h in loaded.hosts]}))
        """,
        inventory,
        tmp_path / "cache",
    )
    assert seen == {"forked": 1, "reaped": True, "hosts": ["db1"]}


def test_a_refused_graph_does_not_wait_for_the_inventory_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    graph = write_graph(tmp_path, [service("lis", 1, ["lis1"], ["nosuch"])])
    script_pid = tmp_path / "script.pid"
    slow = tmp_path / "slow_inventory.sh"  # a dynamic inventory that takes its time
    slow.write_text(f"#!/bin/sh\necho $$ > {script_pid}\nexec sleep 60\n")
    slow.chmod(0o755)
    seen = _in_fresh_interpreter(
        """
        import time
        from typer.testing import CliRunner
        from restore.cli.app import app
        began = time.monotonic()
        result = CliRunner().invoke(app, ["plan", *sys.argv[1:]])
        print(json.dumps({"forked": len(forked), "reaped": reaped(), "code": result.exit_code,
                          "stderr": result.stderr, "took": time.monotonic() - began}))
        """,
        graph,
        "-i",
        slow,
        "--state-dir",
        tmp_path,
    )
    assert seen["forked"] == 1 and seen["reaped"] and seen["code"] == 2
    assert "nosuch" in seen["stderr"] and "Traceback" not in seen["stderr"]
    assert seen["took"] < 30  # the graph's error came without waiting for the inventory


def test_cancel_ends_the_child_and_what_it_runs(tmp_path: Path) -> None:
    script_pid = tmp_path / "script.pid"
    slow = tmp_path / "slow_inventory.sh"
    slow.write_text(f"#!/bin/sh\necho $$ > {script_pid}\nexec sleep 60\n")
    slow.chmod(0o755)
    seen = _in_fresh_interpreter(
        """
        import time
        load = start_loading_inventory(Path(sys.argv[1]), Path(sys.argv[2]))
        deadline = time.monotonic() + 30
        while not Path(sys.argv[3]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # until ansible-core runs the script
        load.cancel()
        print(json.dumps({"forked": len(forked), "reaped": reaped()}))
        """,
        slow,
        tmp_path / "cache",
        script_pid,
    )
    assert seen == {"forked": 1, "reaped": True}
    assert _ends(int(script_pid.read_text())), "the inventory script outlived the cancel"


def _ends(pid: int, within_s: float = 10) -> bool:
    """The process is gone, or dead and waiting to be reaped by whoever inherited it."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["plan", "g.yaml", "-i", "inv.yml"], ["inv.yml"]),
        (["validate", "g.yaml", "--inventory=inv.ini", "--state-dir", "/s"], ["inv.ini"]),
        (["plan", "--state-dir=/s", "g.yaml", "--inventory", "inv"], ["inv"]),
        (["plan", "g.yaml", "-i", "groups.ini", "-i", "hosts.ini"], ["groups.ini", "hosts.ini"]),
        (["plan", "g.yaml", "-i", "inv.yml", "--help"], None),
        (["plan", "g.yaml"], None),
        (["run", "g.yaml", "-i", "inv.yml"], None),
        ([], None),
    ],
)
def test_the_entry_point_sniffs_only_what_it_is_sure_of(
    argv: list[str], expected: list[str] | None
) -> None:
    sniffed = sniff_planning_paths(argv)
    assert (None if sniffed is None else [str(p) for p in sniffed]) == expected


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_program_plans_the_same_and_leaves_no_loader_behind(tmp_path: Path) -> None:
    """Through the real `restore` program (its entry point starts the load early)."""
    # Spare hosts make the load slow enough (about a second) that a load left running
    # after the program exits is seen below.
    spare = [f"spare{n}" for n in range(3000)]
    inventory = write_inventory(tmp_path, {"db": ["db1", "db2"], "lab": ["lis1"], "spare": spare})
    graph = write_graph(
        tmp_path,
        [service("db", 2, ["@db"]), service("lis", 1, ["lis1"], ["db"])],
    )
    state = tmp_path / "state-of-this-test"
    program = [str(Path(sys.executable).parent / "restore"), "plan", str(graph), "-i"]
    in_process = runner.invoke(
        app,
        [
            "plan",
            str(graph),
            "-i",
            str(inventory),
            "--format",
            "json",
            "--state-dir",
            str(tmp_path / "x"),
        ],
    )
    for _ in range(2):  # the second is served from the plan cache
        done = subprocess.run(
            [*program, str(inventory), "--format", "json", "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "user-cache")},
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["order"] == json.loads(in_process.stdout)["order"]
        assert _processes_mentioning(str(state)) == []

    # A command line the program then refuses never uses its early load, which would run on
    # for a second with a fresh cache (nothing cached): it must be gone at exit.
    fresh = tmp_path / "fresh-state-of-this-test"
    usage = subprocess.run(
        [*program, str(inventory), "--format", "nonsense", "--state-dir", str(fresh)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=False,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "fresh-cache")},
    )
    assert usage.returncode == 2
    assert _processes_mentioning(str(fresh)) == []

    refused = subprocess.run(
        [*program, str(tmp_path / "absent.yml"), "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "absent.yml" in refused.stderr
    assert "Traceback" not in refused.stderr
