"""Directory checks and krbtgt rotation against real Samba AD domain controllers of the lab.

Two lab DCs (each a domain of its own, booted from the cached golden layer): `dcinf` is
infected over LDAPS by the attacker scenarios one after the other, and each must be caught
by `restore check` (the real CLI) in the same verdict and JSON as the host checks; `dcfresh`
has its krbtgt rotated twice by a real `restore run` of a `directory: rotate_krbtgt` step
(after a dry run that must change nothing) and is then clean. A CA that did not issue the
DC's certificate is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore.directory.checks import read_directory
from restore.directory.krbtgt import krbtgt_entry, state_of
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.models import Platform

pytestmark = pytest.mark.lab


class DcLab:
    def __init__(self, lab: Lab, inventory: Path, state: Path, baseline: Path, incident: str):
        self.lab, self.inventory, self.state = lab, inventory, state
        self.baseline, self.incident = baseline, incident

    def check(self, host: str, *extra: str) -> tuple[int, dict[str, Any]]:
        done = restore(
            "check",
            "-i",
            str(self.inventory),
            *extra,
            host,
            "--since",
            self.incident,
            "--baseline",
            str(self.baseline),
            "--state-dir",
            str(self.state),
            "--format",
            "json",
        )
        assert done.stdout, done.stderr
        return done.returncode, json.loads(done.stdout)["hosts"][0]

    def key_version(self, host: str) -> int:
        spec = load_inventory(self.inventory, with_secrets=True).host(host)
        entry = krbtgt_entry(read_directory(spec))
        assert entry is not None
        return state_of(entry).key_version


def restore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "restore", *args], capture_output=True, text=True, timeout=600
    )


def findings(host: dict[str, Any], status: set[str] | None = None) -> dict[str, str]:
    wanted = status or {"fail", "error"}
    return {f["check"]: f["detail"] for f in host["findings"] if f["status"] in wanted}


@pytest.fixture(scope="module")
def dcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DcLab]:
    state = tmp_path_factory.mktemp("dclab")
    lab = Lab(state)
    try:
        inventory = lab.up(
            [("dcinf", Platform.LINUX), ("dcfresh", Platform.LINUX)],
            roles={"dcinf": "domain_controller", "dcfresh": "domain_controller"},
        )
        baseline = state / "baseline"
        captured = restore(
            "baseline", "capture", "-i", str(inventory), "-o", str(baseline),
            "--state-dir", str(state),
        )  # fmt: skip
        assert captured.returncode == 0, captured.stderr
        # the incident starts after the known-good capture (AD times have 1 s resolution)
        incident = datetime.now(UTC).replace(microsecond=0).isoformat()
        yield DcLab(lab, inventory, state, baseline, incident)
    finally:
        Lab(state).down()


def test_lab_inventory_names_the_directory_accounts(dcs: DcLab) -> None:
    hosts = yaml.safe_load(dcs.inventory.read_text())["all"]["children"]
    assert set(hosts["lab_domain_controllers"]["hosts"]) == {"dcinf", "dcfresh"}
    dc = hosts["lab_linux"]["hosts"]["dcinf"]
    assert dc["restore_role"] == "domain_controller"
    assert Path(dc["restore_ldap_ca_file"]).read_text().startswith("-----BEGIN CERTIFICATE")
    for key in (
        "restore_ldap_bind_dn",
        "restore_ldap_bind_password",
        "restore_lab_domain_admin",
        "restore_lab_domain_admin_password",
    ):
        assert dc[key], key
    # the read account is not the domain administrator
    assert dc["restore_ldap_bind_dn"] != dc["restore_lab_domain_admin"]


def test_krbtgt_not_rotated_is_a_finding(dcs: DcLab) -> None:
    infected = restore(
        "lab", "infect", "dcinf", "--scenario", "krbtgt-not-rotated", "--state-dir", str(dcs.state)
    )
    assert infected.returncode == 0, infected.stderr
    rc, host = dcs.check("dcinf")
    assert rc == 3
    assert host["verdict"] == "suspect"
    assert "not rotated since the incident" in findings(host)["dir-krbtgt"]
    # the host checks ran too, in the same verdict (sshd of the DC host, over SSH)
    assert {"uid0_accounts", "dir-privileged-groups"} <= {f["check"] for f in host["findings"]}


@pytest.mark.parametrize(
    ("scenario", "check", "needle"),
    [
        ("new-user", "dir-accounts-created", "helpdesk.temp"),
        ("spn-user", "dir-spns", "alice.martin: MSSQLSvc/db01.lab.test:1433"),
        ("gpo-changed", "dir-gpo-changed", "Workstation hardening"),
        ("privileged-account", "dir-privileged-groups", "Domain Admins: svc-sync"),
    ],
)
def test_each_scenario_is_caught(dcs: DcLab, scenario: str, check: str, needle: str) -> None:
    infected = restore(
        "lab", "infect", "dcinf", "--scenario", scenario, "--state-dir", str(dcs.state)
    )
    assert infected.returncode == 0, infected.stderr
    rc, host = dcs.check("dcinf")
    assert rc == 3
    failed = findings(host)
    assert needle in failed[check]
    if scenario == "privileged-account":
        # nested through a new group, resolved; only an attacker does this: compromised
        assert host["verdict"] == "compromised"
    if scenario == "gpo-changed":
        # the scheduled task landed in SYSVOL, which the host checks watch on a DC
        assert "ScheduledTasks" in failed["changed_since_incident"]


def test_rotation_dry_run_then_real_then_clean(dcs: DcLab, tmp_path: Path) -> None:
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "directory",
                "services": [
                    {
                        "id": "ad",
                        "priority": 0,
                        "hosts": ["dcfresh"],
                        "steps": [{"directory": "rotate_krbtgt"}],
                    }
                ],
            }
        )
    )
    before = dcs.key_version("dcfresh")
    state = tmp_path / "state"
    common = ("-i", str(dcs.inventory), "--yes", "--state-dir")
    dry = restore("run", str(graph), *common, str(tmp_path / "dry"), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dcs.key_version("dcfresh") == before  # a dry run changes nothing in the directory
    real = restore("run", str(graph), *common, str(state))
    assert real.returncode == 0, real.stderr + real.stdout
    assert dcs.key_version("dcfresh") == before + 2
    exported = restore("journal", "export", "--state-dir", str(state), "--format", "json")
    events = json.loads(exported.stdout)["events"]
    done = [e for e in events if e["event"] == "succeeded" and e["host"] == "dcfresh"]
    assert done[-1]["detail"]["key_version_after"] == before + 2
    # no secret of the inventory (the admin who rotated) in the journal
    admin_password = (
        load_inventory(dcs.inventory, with_secrets=True)
        .host("dcfresh")
        .secret("restore_ldap_admin_password")
    )
    assert admin_password and admin_password not in exported.stdout
    rc, host = dcs.check("dcfresh")
    assert (rc, host["verdict"]) == (0, "clean"), findings(host)
    assert "1 -> 3" in findings(host, {"pass"})["dir-krbtgt"]


def test_wrong_ca_is_refused(dcs: DcLab, tmp_path: Path) -> None:
    from restore.lab.windows import ensure_ca

    other_ca, _ = ensure_ca(tmp_path)
    override = tmp_path / "override.yml"
    override.write_text(
        yaml.safe_dump({"all": {"hosts": {"dcfresh": {"restore_ldap_ca_file": str(other_ca)}}}})
    )
    rc, host = dcs.check("dcfresh", "-i", str(override))
    assert rc == 3 and host["verdict"] == "suspect"
    assert "certificate" in findings(host)["dir-read"].lower()
    # the explicit opt-out reads the directory anyway (and says so on stderr)
    rc, host = dcs.check("dcfresh", "-i", str(override), "--ldap-insecure")
    assert "dir-read" not in findings(host)


def can_bind(dcs: DcLab, account: str) -> bool:
    from restore.directory.connection import DirectoryError, LdapTarget, connect

    passwords = json.loads((dcs.state / "lab" / "dc-attacker-passwords.json").read_text())
    spec = load_inventory(dcs.inventory, with_secrets=True).host("dcinf")
    try:
        connect(LdapTarget.for_host(spec), f"{account}@lab.test", passwords[account]).unbind()
    except DirectoryError:
        return False
    return True


def test_disable_accounts_named_by_the_checks(dcs: DcLab, tmp_path: Path) -> None:
    """After the scenarios above: the attacker's accounts bind, then are disabled (approved
    with --yes in this run) and no longer bind; the seeded users are untouched."""
    assert can_bind(dcs, "svc-sync") and can_bind(dcs, "helpdesk.temp")
    graph = tmp_path / "graph.yaml"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "directory",
                "incident": {"declared_at": dcs.incident},
                "services": [
                    {
                        "id": "ad",
                        "priority": 0,
                        "hosts": ["dcinf"],
                        "steps": [{"directory": "disable_accounts"}],
                    }
                ],
            }
        )
    )
    state = tmp_path / "state"
    state.mkdir()
    import shutil

    shutil.copytree(dcs.baseline, state / "baselines")  # where run steps read baselines
    dry = restore("run", str(graph), "-i", str(dcs.inventory), "--dry-run", "--yes",
                  "--state-dir", str(tmp_path / "dry"))  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert can_bind(dcs, "svc-sync")  # the dry run disabled nothing
    real = restore("run", str(graph), "-i", str(dcs.inventory), "--yes", "--state-dir", str(state))
    assert real.returncode == 0, real.stderr + real.stdout
    events = json.loads(
        restore("journal", "export", "--state-dir", str(state), "--format", "json").stdout
    )["events"]
    done = [e for e in events if e["event"] == "succeeded" and e["host"] == "dcinf"]
    assert done[-1]["detail"]["disabled"] == ["helpdesk.temp", "svc-sync"]
    assert not can_bind(dcs, "svc-sync") and not can_bind(dcs, "helpdesk.temp")
