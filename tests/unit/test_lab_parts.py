"""The lab's pure parts, without booting hosts: address allocation, the nftables ruleset, the
inventory contract, the golden image's cache key, prerequisites and CLI usage errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from restore.cli.app import app
from restore.errors import OperationalError, PrerequisiteError
from restore.lab import alloc, netfilter, prereq, rootfs
from restore.lab.lab import Lab, LabHost

runner = CliRunner()


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private number registry, so these tests never touch the machine's real one."""
    monkeypatch.setattr(alloc, "REGISTRY_DIR", tmp_path / "registry")
    return tmp_path


def _live_lab(base: Path, name: str) -> Path:
    """A state dir that the registry sees as a lab still in use (its state file exists)."""
    state = base / name
    (state / "lab").mkdir(parents=True)
    (state / "lab" / "lab.json").write_text("{}")
    return state


def test_two_labs_never_share_numbers(registry: Path) -> None:
    first = alloc.allocate(_live_lab(registry, "a"), 3)
    second = alloc.allocate(_live_lab(registry, "b"), 2)
    assert first == [1, 2, 3]
    assert second == [4, 5]
    alloc.release(first)
    assert alloc.allocate(_live_lab(registry, "c"), 1) == [1]


def test_numbers_of_a_lab_without_state_are_reclaimed(registry: Path) -> None:
    crashed = _live_lab(registry, "crashed")
    assert alloc.allocate(crashed, 2) == [1, 2]
    (crashed / "lab" / "lab.json").unlink()  # `lab down` removed it, or it never got written
    assert alloc.allocate(_live_lab(registry, "next"), 2) == [1, 2]


def test_full_machine_is_an_operational_error(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alloc, "MAX_HOSTS", 3)
    alloc.allocate(_live_lab(registry, "a"), 2)
    with pytest.raises(OperationalError, match="no room for 2 more lab hosts"):
        alloc.allocate(_live_lab(registry, "b"), 2)


def test_addresses_follow_the_host_number() -> None:
    assert alloc.management_address(7) == "127.0.11.7"
    assert alloc.production_address(7) == "127.0.10.7"
    assert alloc.management_address(250) == "127.0.11.250"  # small labs keep their addresses


def test_large_labs_go_on_in_their_own_ranges_without_a_collision() -> None:
    assert alloc.management_address(251) == "127.11.0.1"
    assert alloc.production_address(251) == "127.10.0.1"
    assert alloc.management_address(501) == "127.11.1.1"
    numbers = range(1, alloc.MAX_HOSTS + 1)
    management = {alloc.management_address(n) for n in numbers}
    production = {alloc.production_address(n) for n in numbers}
    assert len(management) == len(production) == alloc.MAX_HOSTS >= 1000
    assert not management & production
    for address in management | production:
        first, *rest = (int(part) for part in address.split("."))
        assert first == 127 and all(0 <= part <= 255 for part in rest) and rest[-1] >= 1


def test_ruleset_drops_only_the_cut_addresses_in_the_labs_own_table() -> None:
    script = netfilter.ruleset("ab12cd", ["127.0.10.3", "127.0.11.3"])
    assert script.startswith("table inet restore_lab_ab12cd\nflush table inet restore_lab_ab12cd")
    assert script.count("ip daddr { 127.0.10.3, 127.0.11.3 } drop") == 2  # input and output
    assert "ip saddr { 127.0.10.3, 127.0.11.3 } drop" in script
    assert "policy accept" in script and "policy drop" not in script


def test_empty_ruleset_opens_everything() -> None:
    assert "drop" not in netfilter.ruleset("ab12cd", [])


def test_rootfs_key_depends_on_the_package_set_not_its_order() -> None:
    assert rootfs.rootfs_key(("a", "b")) == rootfs.rootfs_key(("b", "a"))
    assert rootfs.rootfs_key(("a", "b")) != rootfs.rootfs_key(("a", "b", "c"))
    # what the other parts of restore rely on inside a lab host
    for needed in ("openssh-server", "python3", "restic", "postgresql", "nftables", "cron"):
        assert needed in rootfs.PACKAGES


def test_rootfs_cache_dir_can_be_shared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESTORE_LAB_CACHE", str(tmp_path))
    assert rootfs.cache_root() == tmp_path


def test_missing_tools_name_the_packages_and_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prereq.os, "geteuid", lambda: 0)
    monkeypatch.setattr(
        prereq.shutil, "which", lambda tool, path=None: None if tool in ("nft", "sshd") else tool
    )
    with pytest.raises(PrerequisiteError) as caught:
        prereq.require_lab_tools()
    assert "nftables, openssh-server" in str(caught.value)
    assert "apt-get install -y nftables openssh-server" in str(caught.value.hint)
    assert caught.value.exit_code == 2


def test_not_root_is_a_prerequisite_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prereq.os, "geteuid", lambda: 1000)
    with pytest.raises(PrerequisiteError, match="needs root"):
        prereq.require_lab_tools()


def _lab_with_hosts(state: Path) -> Lab:
    lab = Lab(state)
    lab.dir.mkdir(parents=True)
    lab.lab_id = "ab12cd"
    lab.hosts = {
        "lis01": LabHost("lis01", "linux", 1, "127.0.11.1", "127.0.10.1"),
        "dc01": LabHost("dc01", "windows", 2, "127.0.11.2", "127.0.10.2"),
    }
    lab.groups = {"lab_analysers": ["lis01"]}
    return lab


def test_inventory_gives_each_host_the_contract_vars(tmp_path: Path) -> None:
    lab = _lab_with_hosts(tmp_path / "state")
    path = lab.write_inventory()
    children = yaml.safe_load(path.read_text())["all"]["children"]
    linux = children["lab_linux"]["hosts"]["lis01"]
    assert linux["ansible_host"] == "127.0.11.1"
    assert linux["restore_production_address"] == "127.0.10.1"
    assert linux["restore_lab"] == str(lab.state_dir)
    assert linux["ansible_user"] == "root"
    assert linux["ansible_ssh_private_key_file"] == str(lab.key_file)
    assert linux["ansible_ssh_common_args"] == (
        f"-o UserKnownHostsFile={lab.known_hosts} -o StrictHostKeyChecking=yes"
    )
    windows = children["lab_windows"]["hosts"]["dc01"]
    assert windows["ansible_host"] == "127.0.11.2"
    assert windows["ansible_connection"] == "winrm"
    assert windows["ansible_port"] == 5986
    assert windows["ansible_winrm_scheme"] == "https"
    assert windows["ansible_winrm_transport"] == "ntlm"
    assert windows["ansible_user"] == "Administrator"
    assert windows["ansible_password"]
    assert Path(windows["ansible_winrm_ca_trust_path"]).exists()
    assert children["lab_analysers"] == {"hosts": {"lis01": None}}


def test_inventory_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It carries the Windows hosts' WinRM password."""
    path = _lab_with_hosts(tmp_path / "state").write_inventory()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lab", "up"], "nothing to create"),
        (["lab", "fault", "h1"], "exactly one of"),
        (["lab", "fault", "h1", "--hang", "--clear"], "exactly one of"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.stderr


def test_unknown_host_names_the_lab_and_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["lab", "reset", "nosuch", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no lab host 'nosuch'" in result.stderr


@pytest.fixture
def fake_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """mmdebstrap replaced by a directory maker: the generation logic runs for real."""
    monkeypatch.setenv("RESTORE_LAB_CACHE", str(tmp_path / "cache"))
    calls: list[list[str]] = []

    def mmdebstrap(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        (Path(cmd[-1]) / "etc" / "ssh").mkdir(parents=True)
        (Path(cmd[-1]) / "etc" / "ssh" / "ssh_host_ed25519_key").write_text("shared key")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(rootfs.subprocess, "run", mmdebstrap)
    return calls


def test_rootfs_is_built_once_then_reused(fake_build: list[list[str]]) -> None:
    first = rootfs.ensure_rootfs()
    assert rootfs.ensure_rootfs() == first
    assert len(fake_build) == 1
    assert fake_build[0][:2] == ["mmdebstrap", "--variant=minbase"]
    assert not list((first / "etc" / "ssh").glob("ssh_host_*"))  # no key shared by all hosts


def test_rebuild_keeps_the_generation_running_hosts_use(fake_build: list[list[str]]) -> None:
    first = rootfs.ensure_rootfs()
    second = rootfs.ensure_rootfs(rebuild=True, in_use=lambda: {first})
    assert second != first and first.exists() and rootfs.ensure_rootfs() == second
    third = rootfs.ensure_rootfs(rebuild=True, in_use=set)
    assert third.exists() and not first.exists() and not second.exists()


def test_a_probe_after_a_rebuild_step_is_left_to_the_service_it_starts() -> None:
    # The example hospital's db-pg: its playbook starts PostgreSQL on 5432; a responder holding
    # 5432 from boot made the real server fail to bind ("Address already in use") in make demo.
    from restore.lab.twin_ports import probed_ports
    from restore.models import StepSpec, StepType

    steps = [
        StepSpec(StepType.CHECK),
        StepSpec(StepType.HEALTH, {"tcp": 53}),
        StepSpec(StepType.ANSIBLE, "rebuild.yml"),
        StepSpec(StepType.HEALTH, {"tcp": 5432}),
    ]
    assert probed_ports(steps) == [53]
    assert probed_ports([StepSpec(StepType.HEALTH, {"http": "http://{host}:8080/"})]) == [8080]


LAB_CLAIMS = """
from restore.execution.providers import network_control_for, registered_reimage_provider
from restore.models import Credential, HostSpec, Platform

def claims() -> list[str]:
    twin = HostSpec(
        "twin01", Platform.LINUX, "127.0.11.1", 22, "root", Credential("none"),
        connection_vars=(("restore_lab", "/tmp/state"),),
    )
    return [type(registered_reimage_provider(twin)).__name__, type(network_control_for(twin)).__name__]

import restore.lab, restore.lab.lab, restore.rehearsal.rehearse  # what callers import
print(claims())
from restore.lab.providers import register
register()
register()  # idempotent: a second call adds nothing
print(claims())
from restore.execution import providers
print(len(providers._reimage_factories), len(providers._network_factories))
"""


def test_the_lab_providers_are_registered_by_one_explicit_call_only() -> None:
    """Importing the lab registers nothing (a fresh interpreter: the registry is per process);
    `restore run` and `rehearse` call register(), which claims lab twins."""
    out = subprocess.run(
        [sys.executable, "-c", LAB_CLAIMS], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["['NoneType', 'NoneType']", "['LabReimage', 'LabNetwork']", "1 1"]
