"""`restore rehearse --lab` of a two-site inventory: the execution nodes get twins of their
own, are installed, and the sites' playbooks run on them (the journal says which node)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from restore.cli.app import app
from restore.execution.journal import Journal

pytestmark = [pytest.mark.lab, pytest.mark.slow]

MARKER = """
- name: Marker
  hosts: all
  gather_facts: false
  tasks:
    - name: Record the controller that ran this
      ansible.builtin.copy:
        dest: /srv/data/executed-by
        content: "{{ lookup('pipe', 'hostname') }}\\n"
        mode: "0644"
"""


def test_a_two_site_rehearsal_runs_each_site_on_its_node_twin(tmp_path: Path) -> None:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "marker.yml").write_text(MARKER)
    sites = {
        f"site_{site}": {
            "vars": {"restore_execution_node": f"{site}-exec"},
            "hosts": {
                f"{site}-exec": {"ansible_host": f"{site}-exec.test"},
                f"{site}-lis": {"ansible_host": f"{site}-lis.test"},
            },
        }
        for site in ("north", "south")
    }
    inventory = tmp_path / "hospital.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": sites}}))
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "Two sites",
                "playbook_dir": "playbooks",
                "services": [
                    {
                        "id": f"lis-{site}",
                        "priority": 1,
                        "hosts": [f"{site}-lis"],
                        "steps": [{"ansible": "marker.yml"}],
                    }
                    for site in ("north", "south")
                ],
            },
            sort_keys=False,
        )
    )
    state = tmp_path / "state"
    result = CliRunner().invoke(
        app,
        [
            "rehearse",
            str(graph),
            "-i",
            str(inventory),
            "--lab",
            "--scenario",
            "clean",
            "--state-dir",
            str(state),
        ],
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    journal = Journal(state)
    try:
        done = {
            e.host: str(e.detail.get("message", ""))
            for e in journal.events()
            if e.event == "succeeded" and e.step and "ansible" in e.step
        }
    finally:
        journal.close()
    assert done["north-lis"].startswith("on node north-exec: successful")
    assert done["south-lis"].startswith("on node south-exec: successful")
