"""`restore node install` and `restore node status` on real lab hosts (Debian bookworm minbase:
python3 without pip or ensurepip, no route to any package registry).

Proves: the install works from the control side's wheelhouse alone, `status` reports the same
ansible-runner as the control side, a second install changes nothing, nothing of the
wheelhouse stays on the node, unknown nodes are refused with the nearest name (exit 2), and
a node that is not installed or unreachable is a row with its reason (exit 1), not a traceback.
"""

from __future__ import annotations

import importlib.metadata
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from restore.ansible.nodes import NODE_VENV
from restore.cli.app import app
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.models import Platform
from restore.transports.ssh import SshTransport

pytestmark = [pytest.mark.lab, pytest.mark.slow]
runner = CliRunner()


@dataclass
class Site:
    base: Path
    inventory: Path
    first_install: dict[str, Any]
    install_seconds: float

    def on(self, host: str, command: str) -> str:
        spec = load_inventory(self.inventory, with_secrets=True).host(host)
        transport = SshTransport(spec)
        try:
            return transport.run(command, 30).stdout
        finally:
            transport.close()


def restore(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("nodes")
    try:
        lab = Lab(base / "lab")
        lab_inventory = lab.up(
            [
                ("site1node", Platform.LINUX),
                ("site1pacs", Platform.LINUX),
                ("site2node", Platform.LINUX),
                ("site2lab", Platform.LINUX),
            ]
        )
        data = yaml.safe_load(Path(lab_inventory).read_text())
        hosts = data["all"]["children"]["lab_linux"]["hosts"]
        hosts["site1pacs"]["restore_execution_node"] = "site1node"
        hosts["site2lab"]["restore_execution_node"] = "site2node"
        inventory = base / "sites.yml"
        inventory.write_text(yaml.safe_dump(data))
        started = time.monotonic()
        code, out, err = restore(
            "node",
            "install",
            "site1node",
            "-i",
            inventory,
            "--wheelhouse-cache",
            base / "cache",
            "--format",
            "json",
        )
        took = time.monotonic() - started
        assert code == 0, out + err
        yield Site(base, inventory, json.loads(out), took)
    finally:
        Lab(base / "lab").down()


def test_install_from_the_control_side_wheelhouse(site: Site) -> None:
    result = site.first_install
    assert result["action"] == "installed"
    assert result["wheelhouse_built"] is True
    assert result["ansible_core"] == importlib.metadata.version("ansible-core")
    assert result["ansible_runner"] == importlib.metadata.version("ansible-runner")
    assert result["python"] == "3.11"
    assert result["bytes_sent"] > 1_000_000
    print(f"first install, wheelhouse download included: {site.install_seconds:.1f} s")
    # the wheelhouse was deleted from the node; the venv runs the pinned versions, and the job
    # agent is in place for the job key
    assert site.on("site1node", "ls /opt/restore-node").split() == ["agent.py", "venv"]
    versions = site.on("site1node", f"{NODE_VENV}/bin/ansible-runner --version").strip()
    assert versions == importlib.metadata.version("ansible-runner")


def test_status_reports_the_control_sides_runner(site: Site) -> None:
    code, out, err = restore(
        "node", "status", "site1node", "-i", site.inventory, "--format", "json"
    )
    assert code == 0, out + err
    report = json.loads(out)
    (row,) = report["nodes"]
    assert row["node"] == "site1node"
    assert row["healthy"] is True and row["state"] == "ready"
    assert row["runner_version"] == importlib.metadata.version("ansible-runner")
    assert row["ansible_core"] == importlib.metadata.version("ansible-core")
    assert row["cpu_count"] >= 1 and row["mem_in_bytes"] > 0 and row["uuid"]
    assert row["errors"] == []
    code, out, _ = restore("node", "status", "site1node", "-i", site.inventory)
    assert code == 0 and "site1node" in out and "ready" in out


def test_second_install_is_a_no_op(site: Site) -> None:
    site.on("site1node", f"touch {NODE_VENV}/untouched")
    started = time.monotonic()
    code, out, err = restore(
        "node",
        "install",
        "site1node",
        "-i",
        site.inventory,
        "--wheelhouse-cache",
        site.base / "cache",
        "--format",
        "json",
    )
    assert code == 0, out + err
    result = json.loads(out)
    assert result["action"] == "unchanged" and result["bytes_sent"] == 0
    assert result["wheelhouse"] is None  # not even the cache was looked at
    assert site.on("site1node", f"ls {NODE_VENV}/untouched").strip() == f"{NODE_VENV}/untouched"
    print(f"second install: {time.monotonic() - started:.1f} s")
    code, _, err = restore("node", "install", "site1node", "-i", site.inventory)
    assert code == 0 and "already at" in err


def test_unknown_node_exits_2_with_the_nearest_name(site: Site) -> None:
    for command in ("status", "install"):
        code, out, err = restore("node", command, "site1nod", "-i", site.inventory)
        assert code == 2, out + err
        assert "did you mean 'site1node'?" in err
        assert str(site.inventory) in err
        assert "Traceback" not in out + err


def test_every_node_of_the_inventory_not_installed_and_unreachable(site: Site) -> None:
    code, out, err = restore("node", "status", "-i", site.inventory, "--format", "json")
    assert code == 1, out + err
    rows = {row["node"]: row for row in json.loads(out)["nodes"]}
    assert list(rows) == ["site1node", "site2node"]  # named by a host; the others are not nodes
    assert rows["site1node"]["state"] == "ready"
    assert rows["site2node"]["state"] == "not installed"
    assert "restore node install site2node" in rows["site2node"]["problem"]

    Lab(site.base / "lab").fault("site2node", "unreachable")
    try:
        code, out, err = restore("node", "status", "-i", site.inventory)
    finally:
        Lab(site.base / "lab").fault("site2node", None)
    assert code == 1, out + err
    assert "unreachable" in out and "site2node" in out and "ready" in out
    assert "Traceback" not in out + err
