"""`restore_execution_node`: which node runs a host's Ansible steps, and what is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from restore.cli.app import app
from restore.errors import InputError, InputErrors
from restore.inputs.inventory import load_inventory
from restore.planning.placement import execution_nodes
from tests.unit.graphs import service, write_graph

runner = CliRunner()


def two_sites(tmp: Path, **extra_host_vars: dict[str, object]) -> Path:
    """Two site groups, each naming its own node in its group vars; the node is a member."""
    sites = {}
    for site in ("north", "south"):
        hosts: dict[str, dict[str, object]] = {
            f"{site}node": {"ansible_host": f"{site}node.test"},
            f"{site}lab": {"ansible_host": f"{site}lab.test"},
            f"{site}pacs": {"ansible_host": f"{site}pacs.test"},
        }
        sites[site] = {"hosts": hosts, "vars": {"restore_execution_node": f"{site}node"}}
    sites["central"] = {"hosts": {"dc1": {"ansible_host": "dc1.test"}}}
    sites["win"] = {"hosts": {"ad1": {"ansible_connection": "winrm"}}}
    for host, variables in extra_host_vars.items():
        for group in sites.values():
            if host in group["hosts"]:  # type: ignore[operator]
                group["hosts"][host].update(variables)  # type: ignore[index]
    path = tmp / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": sites}}))
    return path


def test_site_group_var_places_members_and_the_node_runs_its_own_steps_from_here(
    tmp_path: Path,
) -> None:
    nodes = execution_nodes(load_inventory(two_sites(tmp_path)))
    assert nodes == {
        "northlab": "northnode",
        "northpacs": "northnode",
        "southlab": "southnode",
        "southpacs": "southnode",
    }


def test_unknown_node_is_refused_with_the_nearest_name(tmp_path: Path) -> None:
    inventory = two_sites(tmp_path, southpacs={"restore_execution_node": "sothnode"})
    with pytest.raises(InputError) as refused:
        execution_nodes(load_inventory(inventory))
    message = str(refused.value)
    assert "sothnode" in message and "southnode" in message
    assert "restore_execution_node" in message and str(inventory) in message


def test_windows_node_cycle_and_chain_are_refused(tmp_path: Path) -> None:
    inventory = two_sites(
        tmp_path,
        northlab={"restore_execution_node": "ad1"},
        northnode={"restore_execution_node": "southnode"},
        southnode={"restore_execution_node": "northnode"},
        dc1={"restore_execution_node": "northpacs"},
    )
    with pytest.raises(InputErrors) as refused:
        execution_nodes(load_inventory(inventory))
    text = str(refused.value)
    assert "'ad1' is not a Linux host" in text
    assert "a cycle (northnode -> southnode -> northnode)" in text
    assert "host dc1: its node 'northpacs' is itself run through node 'northnode'" in text


def test_plan_shows_which_node_runs_what_and_validate_refuses_with_exit_2(
    tmp_path: Path,
) -> None:
    graph = write_graph(
        tmp_path,
        [
            service("lab", 1, ["northlab", "southlab"], steps=[{"check": None}]),
            service("pacs", 2, ["southpacs"], steps=[{"check": None}]),
            service("dc", 3, ["dc1"], steps=[{"check": None}]),
        ],
    )
    inventory = two_sites(tmp_path)
    state = ["--state-dir", str(tmp_path / "state")]
    result = runner.invoke(
        app, ["plan", str(graph), "-i", str(inventory), "--format", "json", *state]
    )
    assert result.exit_code == 0, result.stderr
    placed = {h["host"]: h["execution_node"] for h in json.loads(result.stdout)["hosts"]}
    assert placed == {
        "northlab": "northnode",
        "southlab": "southnode",
        "southpacs": "southnode",
        "dc1": None,
    }
    table = runner.invoke(app, ["plan", str(graph), "-i", str(inventory), *state])
    assert "execution node northnode runs the Ansible steps of northlab" in table.stdout
    bad = two_sites(tmp_path, southlab={"restore_execution_node": "nowhere"})
    refused = runner.invoke(app, ["validate", str(graph), "-i", str(bad), *state])
    assert refused.exit_code == 2
    assert "nowhere" in refused.stderr and "Traceback" not in refused.stderr
