"""`run`, `rehearse` and `node status` with several `-i`, on real lab hosts (issue 16).

The host's address is in one inventory (the lab's), its group and a variable the playbook
uses in another, as in the public AD lab the issue quotes (`-i data/inventory -i
providers/.../inventory`). Each command goes through the installed `restore` binary, the real
ansible-runner and the run's prefork server; the playbook aims at the group from the second
file and writes the variable from it on the host. A resumed run is refused when the
inventories differ (missing, reordered, edited) and writes nothing then.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from restore.execution.run_snapshot import inventories_fingerprint
from restore.lab import Lab
from restore.models import Platform
from tests.integration.local_runs import head_hash, journal_events

pytestmark = pytest.mark.lab

RESTORE = str(Path(sys.executable).parent / "restore")
MARKER = "merged from the second inventory"
# Aimed at the group only the second inventory defines; writes the variable only it sets.
PLAYBOOK = """
- hosts: clinic
  gather_facts: false
  tasks:
    - name: write the marker from the second inventory
      ansible.builtin.copy: {dest: /srv/marker, content: "{{ marker_text }}\\n", mode: "0644"}
"""
SECOND = f"""
[clinic]
app1

[clinic:vars]
marker_text={MARKER}
"""


@dataclass(frozen=True)
class Site:
    lab: Lab
    addresses: Path  # the lab's inventory: every host's address and keys
    clinic: Path  # the second inventory: app1's group and the playbook's variable
    graph: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("inventories")
    lab = Lab(base / "lab")
    try:
        addresses = lab.up([("app1", Platform.LINUX), ("node1", Platform.LINUX)])
        clinic = base / "clinic.ini"
        clinic.write_text(SECOND)
        (base / "marker.yml").write_text(PLAYBOOK)
        graph = base / "graph.yaml"
        graph.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "name": "two inventories",
                    "services": [
                        {
                            "id": "clinic",
                            "priority": 1,
                            "hosts": ["@clinic"],
                            "steps": [{"ansible": "marker.yml", "timeout": "5m"}],
                        }
                    ],
                },
                sort_keys=False,
            )
        )
        yield Site(lab, addresses, clinic, graph)
    finally:
        Lab(base / "lab").down()


def _restore(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RESTORE, *map(str, args)], capture_output=True, text=True, timeout=600, check=False
    )


def _run_started(state: Path) -> dict[str, object]:
    return next(e.detail for e in journal_events(state) if e.event == "run_started")


def test_a_run_merges_both_inventories_and_resumes_only_with_them(
    tmp_path: Path, site: Site
) -> None:
    state = tmp_path / "state"
    both = ("-i", site.addresses, "-i", site.clinic)
    site.lab.run_on("app1", "rm -f /srv/marker")
    done = _restore("run", site.graph, *both, "--format", "json", "--state-dir", state)
    assert done.returncode == 0, done.stderr
    (host,) = json.loads(done.stdout)["hosts"]
    assert (host["host"], host["state"]) == ("app1", "restored")
    assert site.lab.run_on("app1", "cat /srv/marker") == MARKER + "\n"

    paths = [str(site.addresses.resolve()), str(site.clinic.resolve())]
    started = _run_started(state)
    assert started["inventory"] == paths[0]  # as for one -i: the first
    assert started["inventories"] == paths
    assert started["inventory_sha256"] == inventories_fingerprint(paths)
    # ansible-runner was given both, in order, and ran them through the warm prefork server
    (command,) = state.glob("runs/*/hosts/app1/step-1/artifacts/*/command")
    argv = json.loads(command.read_text())["command"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-i"] == paths
    assert re.search(r"prefork: job \d+ warm", (state / "prefork.log").read_text())

    head = head_hash(state)
    extra = tmp_path / "extra.ini"
    extra.write_text("[elsewhere]\n")
    reordered = ("-i", site.clinic, "-i", site.addresses)
    for inventories in ((*both, "-i", extra), reordered):
        refused = _restore("run", site.graph, *inventories, "--resume", "--state-dir", state)
        assert refused.returncode == 2, refused.stderr
        assert "same inventories in the same order" in refused.stderr
        assert str(site.clinic.resolve()) in refused.stderr
        assert "Traceback" not in refused.stderr
    # without the second file the graph's group is unknown: refused while planning
    alone = _restore("run", site.graph, "-i", site.addresses, "--resume", "--state-dir", state)
    assert alone.returncode == 2 and "unknown inventory group '@clinic'" in alone.stderr
    site.clinic.write_text(SECOND.replace(MARKER, "edited since"))
    try:
        edited = _restore("run", site.graph, *both, "--resume", "--state-dir", state)
    finally:
        site.clinic.write_text(SECOND)
    assert edited.returncode == 2, edited.stderr
    assert "inventory changed since run" in edited.stderr
    assert head_hash(state) == head  # every refusal wrote nothing

    resumed = _restore("run", site.graph, *both, "--resume", "--state-dir", state)
    assert resumed.returncode == 0, resumed.stderr


def test_a_rehearsal_takes_both_inventories(tmp_path: Path, site: Site) -> None:
    state = tmp_path / "state"
    site.lab.run_on("app1", "rm -f /srv/marker")
    rehearsal = _restore(
        "rehearse",
        site.graph,
        "-i",
        site.addresses,
        "-i",
        site.clinic,
        "--scenario",
        "clean",
        "--state-dir",
        state,
    )
    assert rehearsal.returncode == 0, rehearsal.stderr
    assert "met the plan" in rehearsal.stderr + rehearsal.stdout
    assert site.lab.run_on("app1", "cat /srv/marker") == MARKER + "\n"
    assert _run_started(state)["inventories"] == [
        str(site.addresses.resolve()),
        str(site.clinic.resolve()),
    ]


def test_node_status_finds_the_node_one_inventory_names_at_the_address_of_the_other(
    tmp_path: Path, site: Site
) -> None:
    naming = tmp_path / "nodes.ini"
    naming.write_text("[clinic]\napp1 restore_execution_node=node1\n")
    status = _restore("node", "status", "-i", site.addresses, "-i", naming, "--format", "json")
    assert status.returncode == 1, status.stderr  # a node with nothing installed yet
    (row,) = json.loads(status.stdout)["nodes"]
    assert row["node"] == "node1"
    assert row["address"] == site.lab.host("node1").management
    assert not row["healthy"] and row["state"] == "not installed"
