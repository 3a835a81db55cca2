"""The inventory loaded in a forked child while the graph is validated: same results, same
errors, nothing left behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

import restore.inventory
from restore.cli.app import app
from restore.errors import InputError
from restore.inventory import load_inventory
from restore.inventory_background import start_loading_inventory

from .graphs import service, write_graph, write_inventory

runner = CliRunner()


def _no_child_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_child_returns_what_loading_here_returns(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path, {"db": ["db1"], "ad": ["dc1"]}, windows=("dc1",))
    loaded = start_loading_inventory(inventory, tmp_path / "cache")()
    assert loaded == load_inventory(inventory)
    assert loaded.host("dc1").platform.value == "windows"
    assert _no_child_left()


def test_an_inventory_error_in_the_child_keeps_its_file_and_hint(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yml"
    join = start_loading_inventory(missing, tmp_path / "cache")
    with pytest.raises(InputError) as refused:
        join()
    assert refused.value.file == str(missing) and refused.value.hint
    assert _no_child_left()


def test_a_child_that_dies_is_replaced_by_loading_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = write_inventory(tmp_path, {"db": ["db1"]})
    parent = os.getpid()
    real = restore.inventory.load_inventory

    def killed_in_the_child(*args: object, **kwargs: object) -> object:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(restore.inventory, "load_inventory", killed_in_the_child)
    assert [h.name for h in start_loading_inventory(inventory, tmp_path / "cache")().hosts] == [
        "db1"
    ]


def test_with_both_files_bad_the_graph_error_is_shown_and_no_child_is_left(
    tmp_path: Path,
) -> None:
    graph = write_graph(tmp_path, [service("lis", 1, ["lis1"], ["nosuch"])])
    result = runner.invoke(
        app,
        ["plan", str(graph), "-i", str(tmp_path / "absent.yml"), "--state-dir", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "nosuch" in result.stderr and "absent.yml" not in result.stderr
    assert "Traceback" not in result.stderr
    assert _no_child_left()
