"""Finding: inventory values reached a shell on the control node (as root, even in a dry run).

`health: {command: ...}` was formatted with the host's name and address and run with
shell=True. A host name or an `ansible_host` carrying shell syntax ran commands on the
control node. Now the probe is an argv list and unsafe host names are refused.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _restore(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "restore", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=120,
    )


def _graph(tmp_path: Path, command: str) -> Path:
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "version: 1\nname: shell\nservices:\n"
        "  - id: web\n    priority: 1\n    hosts: [web01]\n"
        f"    steps:\n      - health: {{command: {command!r}}}\n        timeout: 2s\n"
    )
    return graph


@pytest.mark.parametrize("dry_run", [True, False])
def test_hostile_ansible_host_runs_nothing_on_the_control_node(
    tmp_path: Path, dry_run: bool
) -> None:
    marker = tmp_path / "pwned"
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    web01:\n"
        f"      ansible_host: '$(touch {marker}); touch {marker}; `touch {marker}`'\n"
    )
    graph = _graph(tmp_path, "test -n {host}")
    args = ["run", str(graph), "-i", str(inventory), "--yes", "--state-dir", str(tmp_path / "s")]
    done = _restore(tmp_path, *args, *(["--dry-run"] if dry_run else []))
    assert "Traceback" not in done.stderr
    assert not marker.exists(), "inventory data ran in a shell on the control node"
    # `test -n <the literal address>` is true: the probe ran, as one argument.
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["web01;id>x;", "../../etc", "-rf", ".hidden", "a/b"])
def test_unsafe_host_name_is_refused_before_anything_runs(tmp_path: Path, name: str) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(f"all:\n  hosts:\n    {name!r}:\n      ansible_host: 127.0.0.1\n")
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        "version: 1\nname: shell\nservices:\n"
        f"  - id: web\n    priority: 1\n    hosts: [{name!r}]\n"
        "    steps:\n      - health: {command: 'touch {name}'}\n"
    )
    args = ["run", str(graph), "-i", str(inventory), "--yes", "--dry-run"]
    done = _restore(tmp_path, *args, "--state-dir", str(tmp_path / "s"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is not allowed" in done.stderr and repr(name) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()


def test_command_probe_substitutes_per_argument_after_splitting() -> None:
    from restore.execution.steps.health import command_argv

    argv = command_argv("curl -fsS 'http://{host}:80/x y' --resolve {name}", "$(id) a", "n;b")
    assert argv == ["curl", "-fsS", "http://$(id) a:80/x y", "--resolve", "n;b"]
    with pytest.raises(ValueError):
        command_argv("echo 'unbalanced", "h", "n")
    with pytest.raises(ValueError):
        command_argv("echo {host.__class__} {other}", "h", "n")
