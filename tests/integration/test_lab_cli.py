"""`restore lab` as a user runs it: twins of an inventory, the inventory path on the last line,
and `restore lab down` leaving nothing behind, even after a crash lost a holder PID."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest
import yaml

from restore.lab import Lab
from restore.lab.runtime import descendants

pytestmark = pytest.mark.lab

RESTORE = str(Path(sys.executable).parent / "restore")
REAL_INVENTORY = """\
all:
  children:
    lis_servers:
      hosts:
        lis01.test:
        lis02.test:
    domain:
      hosts:
        dc01.test:
          ansible_connection: winrm
"""


def restore(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RESTORE, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def host_processes(state: Path) -> set[int]:
    """Holders and every daemon below them, while the lab runs (a daemon's chroot may be
    detached from any path once its host dir is gone, so it is followed by PID)."""
    hosts = json.loads((state / "lab" / "lab.json").read_text())["hosts"]
    holders = [h["holder_pid"] for h in hosts]
    return {*holders, *(pid for holder in holders for pid in descendants(holder))}


def leftovers(state: Path, pids: Collection[int] = ()) -> list[str]:
    """Processes, mounts and nftables tables that still belong to the lab under `state`."""
    found = []
    marker = str(state)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # already dead, waiting for its parent to reap it
            where = [os.readlink(entry / "root"), os.readlink(entry / "cwd")]
            where.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError):
            continue
        if int(entry.name) in pids or any(marker in text for text in where):
            found.append(f"process {entry.name}: {where[-1]}")
    mounts = Path("/proc/self/mounts").read_text()
    found += [f"mount {line}" for line in mounts.splitlines() if marker in line]
    return found


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    restore("lab", "down", "--state-dir", state)  # whatever the test did


def test_twins_of_an_inventory_then_down_leaves_nothing(state: Path, tmp_path: Path) -> None:
    real = tmp_path / "hospital.yml"
    real.write_text(REAL_INVENTORY)

    up = restore("lab", "up", "--from-inventory", real, "--state-dir", state)

    assert up.returncode == 0, up.stderr
    inventory = Path(up.stdout.strip().splitlines()[-1])
    assert inventory == state.resolve() / "lab" / "inventory.yml"
    children = yaml.safe_load(inventory.read_text())["all"]["children"]
    assert set(children["lab_linux"]["hosts"]) == {"lis01.test", "lis02.test"}
    assert set(children["lab_windows"]["hosts"]) == {"dc01.test"}
    assert list(children["lis_servers"]["hosts"]) == ["lis01.test", "lis02.test"]
    status = json.loads(restore("lab", "status", "--format", "json", "--state-dir", state).stdout)
    assert [h["running"] for h in status["hosts"]] == [True, True, True]
    pids = host_processes(state)
    assert len(pids) >= 3 * 3  # holder, boot script, daemons of each host
    assert leftovers(state, pids)  # the probe does see a running lab
    lab_id = json.loads((state / "lab" / "lab.json").read_text())["id"]

    down = restore("lab", "down", "--state-dir", state)

    assert down.returncode == 0, down.stderr
    assert leftovers(state, pids) == []
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert f"restore_lab_{lab_id}" not in tables
    registry = Path("/run/restore-lab/numbers.json")
    assert str(state.resolve()) not in registry.read_text()


def test_down_after_a_crash_that_lost_a_holder_pid(state: Path) -> None:
    """A `lab up` killed between a boot and its state write: the PID is only in /proc."""
    up = restore("lab", "up", "--linux", "2", "--state-dir", state)
    assert up.returncode == 0, up.stderr
    pids = host_processes(state)
    state_file = state / "lab" / "lab.json"
    data = json.loads(state_file.read_text())
    data["hosts"][1]["holder_pid"] = None
    state_file.write_text(json.dumps(data))

    down = restore("lab", "down", "--state-dir", state)

    assert down.returncode == 0, down.stderr
    assert leftovers(state, pids) == []


def test_up_twice_keeps_the_running_hosts(state: Path) -> None:
    first = restore("lab", "up", "--linux", "1", "--state-dir", state)
    assert first.returncode == 0, first.stderr
    before = json.loads((state / "lab" / "lab.json").read_text())["hosts"][0]

    again = restore("lab", "up", "--linux", "2", "--state-dir", state)

    assert again.returncode == 0, again.stderr
    hosts = json.loads((state / "lab" / "lab.json").read_text())["hosts"]
    assert [h["name"] for h in hosts] == ["linux01", "linux02"]
    assert hosts[0]["holder_pid"] == before["holder_pid"]
    assert hosts[0]["number"] != hosts[1]["number"]
    # The CLI keeps its own files private (umask 077), but a twin's files are the twin's: a
    # service running as another user (postgres) must still traverse "/" and run binaries.
    as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups"
    out = Lab(state).run_on("linux02", f"{as_nobody} /usr/bin/install --version | head -1")
    assert "install" in out
    assert Lab(state).run_on("linux02", "stat -c %a /").strip() == "755"
    # ... and the twin's daemons create files as on a stock host, though the CLI never
    # changed its own umask for them (each is given 022 as it starts)
    umasks = {
        line.split()[1]
        for pid in host_processes(state)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("Umask:")
    }
    assert umasks == {"0022"}


def test_up_with_sites_gives_each_site_an_installed_execution_node(tmp_path: Path) -> None:
    state = tmp_path / "state"
    try:
        up = restore("lab", "up", "--linux", "3", "--sites", "2", "--state-dir", state)
        assert up.returncode == 0, up.stdout + up.stderr
        inventory = Path(up.stdout.strip().splitlines()[-1])
        children = yaml.safe_load(inventory.read_text())["all"]["children"]
        nodes = {
            name: values.get("restore_execution_node")
            for name, values in children["lab_linux"]["hosts"].items()
        }
        assert nodes == {
            "linux01": "site1-node",
            "linux02": "site2-node",
            "linux03": "site1-node",
            "site1-node": None,
            "site2-node": None,
        }
        assert list(children["site1"]["hosts"]) == ["site1-node", "linux01", "linux03"]
        status = restore("node", "status", "-i", inventory, "--format", "json")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "ready" in status.stdout and "site2-node" in status.stdout
    finally:
        restore("lab", "down", "--state-dir", state)
