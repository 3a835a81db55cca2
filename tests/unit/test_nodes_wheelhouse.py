"""The node wheelhouse and status, without a network: probe parsing, platform tags, cache key,
the pip download command, the cache, worker-info parsing and node selection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from restore.ansible.nodes import wheelhouse
from restore.ansible.nodes.install import is_current
from restore.ansible.nodes.status import assess, inventory_nodes, parse_worker_info, select_node
from restore.ansible.nodes.wheelhouse import (
    MANIFEST,
    NodePython,
    Pins,
    download_command,
    ensure_wheelhouse,
    parse_probe,
    platform_tags,
    wheelhouse_key,
)
from restore.errors import InputError, OperationalError
from restore.models import Credential, HostSpec, Inventory, Platform

PINS = Pins("2.19.14", "2.4.3", "26.3")
BOOKWORM = NodePython("cpython", 3, 11, "x86_64", "glibc", "2.36")


def test_probe_of_a_bookworm_node() -> None:
    assert parse_probe("cpython 3 11 x86_64 glibc 2.36\n") == BOOKWORM
    assert parse_probe("cpython 3 12 aarch64").libc == ""


@pytest.mark.parametrize(
    "answer", ["", "Python 3.11.2", "cpython 3 x x86_64", "cpython 3 11 x glibc 2"]
)
def test_probe_refuses_garbage(answer: str) -> None:
    with pytest.raises(OperationalError):
        parse_probe(answer)


def test_platform_tags_cover_every_glibc_level_down_to_manylinux2014() -> None:
    tags = platform_tags(BOOKWORM)
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_28_x86_64" in tags and "manylinux2014_x86_64" in tags
    assert tags[-1] == "manylinux2014_x86_64"
    assert not any("2_37" in t or "aarch64" in t for t in tags)


@pytest.mark.parametrize(
    "node",
    [
        NodePython("cpython", 3, 11, "x86_64", "musl", "1.2"),
        NodePython("cpython", 3, 11, "x86_64", "", ""),
        NodePython("cpython", 3, 11, "x86_64", "glibc", "2.12"),
    ],
)
def test_platform_tags_refuse_what_manylinux_cannot_serve(node: NodePython) -> None:
    with pytest.raises(OperationalError):
        platform_tags(node)


def test_key_names_versions_python_and_platform() -> None:
    key = wheelhouse_key(PINS, BOOKWORM)
    assert key == "core2.19.14-runner2.4.3-pip26.3-cp311-x86_64-glibc2.36"
    assert wheelhouse_key(PINS, NodePython("cpython", 3, 12, "x86_64", "glibc", "2.36")) != key
    assert wheelhouse_key(Pins("2.19.14", "2.4.2", "26.3"), BOOKWORM) != key
    assert "/" not in wheelhouse_key(Pins("1/2", "x y", "3"), BOOKWORM)


def test_pypy_nodes_are_refused() -> None:
    with pytest.raises(OperationalError, match="CPython"):
        wheelhouse_key(PINS, NodePython("pypy", 3, 10, "x86_64", "glibc", "2.36"))


def test_download_command_uses_pips_own_configuration(tmp_path: Path) -> None:
    command = download_command(PINS, BOOKWORM, tmp_path)
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--only-binary=:all:" in command
    assert command[command.index("--python-version") + 1] == "3.11"
    assert command[command.index("--abi") + 1] == "cp311"
    assert command[-3:] == ["ansible-core==2.19.14", "ansible-runner==2.4.3", "pip==26.3"]
    # no index, host name or URL of our own: pip's configuration decides where wheels come from
    assert not any("index" in word or "://" in word for word in command)


def test_control_pins_are_this_venvs_versions() -> None:
    import importlib.metadata

    pins = wheelhouse.control_pins()
    assert pins.ansible_core == importlib.metadata.version("ansible-core")
    assert pins.ansible_runner == importlib.metadata.version("ansible-runner")
    assert pins.pip == importlib.metadata.version("pip")


def test_a_cached_wheelhouse_is_used_without_pip(tmp_path: Path) -> None:
    key = wheelhouse_key(PINS, BOOKWORM)
    house = tmp_path / f"wheelhouse-{key}"
    house.mkdir()
    wheels = {
        "ansible_core-2.19.14-py3-none-any.whl": "a",
        "ansible_runner-2.4.3-py3-none-any.whl": "b",
        "pip-26.3-py3-none-any.whl": "c",
    }
    for name in wheels:
        (house / name).write_bytes(b"zip")
    (house / MANIFEST).write_text(json.dumps({"key": key, "wheels": wheels}))
    found = ensure_wheelhouse(PINS, BOOKWORM, tmp_path)
    assert found.path == house and not found.built
    assert found.pip_wheel == "pip-26.3-py3-none-any.whl"
    assert found.size == 9
    (house / "pip-26.3-py3-none-any.whl").unlink()
    with pytest.raises(OperationalError, match="delete it to rebuild"):
        ensure_wheelhouse(PINS, BOOKWORM, tmp_path)


def test_a_python_without_pip_is_a_clear_operational_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real interpreter that has no pip: the situation the message must explain
    venv = tmp_path / "nopip"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    monkeypatch.setattr(sys, "executable", str(venv / "bin" / "python"))
    with pytest.raises(OperationalError, match="pip") as caught:
        ensure_wheelhouse(PINS, BOOKWORM, tmp_path / "cache")
    assert "ensurepip" in str(caught.value)
    assert not list((tmp_path / "cache").glob("wheelhouse-*"))  # nothing half-built left


def test_worker_info_parsing_and_assessment() -> None:
    info = parse_worker_info(
        "{cpu_count: 2, errors: [], mem_in_bytes: 25276510208, runner_version: 2.4.3, "
        "uuid: 222d3305-975c-4f9b-a98e-7063046643ae}\n"
    )
    node = _host("node1")
    ready = assess(node, info, {"ansible_core": "2.19.14", "python": "3.11"}, PINS)
    assert ready.healthy and ready.state == "ready" and ready.cpu_count == 2
    assert ready.runner_version == "2.4.3" and ready.mem_in_bytes == 25276510208
    old = assess(node, info, {"ansible_core": "2.18.0"}, PINS)
    assert old.state == "outdated" and not old.healthy
    assert "restore node install node1" in (old.problem or "")
    failing = assess(node, {**info, "errors": ["cannot write /tmp"]}, {}, PINS)
    assert failing.state == "failing" and failing.problem == "cannot write /tmp"
    with pytest.raises(OperationalError):
        parse_worker_info("Traceback (most recent call last):")


def test_is_current_needs_every_version_and_the_same_python() -> None:
    now = {"python": "3.11", "ansible_core": "2.19.14", "ansible_runner": "2.4.3", "pip": "26.3"}
    assert is_current(now, PINS, BOOKWORM)
    assert not is_current(None, PINS, BOOKWORM)
    assert not is_current({**now, "ansible_runner": None}, PINS, BOOKWORM)
    assert not is_current({**now, "python": "3.12"}, PINS, BOOKWORM)


def test_select_node_names_the_inventory_and_the_nearest_host() -> None:
    inventory = Inventory(
        "inv/sites.yml",
        (
            _host("site1node"),
            _host("site1pacs", node="site1node"),
            _host("dc1", platform=Platform.WINDOWS),
        ),
    )
    assert select_node(inventory, "site1node").name == "site1node"
    with pytest.raises(InputError) as caught:
        select_node(inventory, "site1nod")
    assert caught.value.exit_code == 2
    assert "inv/sites.yml" in str(caught.value) and "did you mean 'site1node'?" in str(caught.value)
    with pytest.raises(InputError, match="not a Linux host"):
        select_node(inventory, "dc1")
    assert [h.name for h in inventory_nodes(inventory)] == ["site1node"]


def _host(name: str, node: str | None = None, platform: Platform = Platform.LINUX) -> HostSpec:
    variables = (("restore_execution_node", node),) if node else ()
    return HostSpec(
        name=name,
        platform=platform,
        address=f"{name}.test",
        port=22,
        user="root",
        credential=Credential("key"),
        connection_vars=variables,
    )
