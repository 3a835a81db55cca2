"""Directory checks and krbtgt rotation against real Samba AD domain controllers of the lab.

Three lab DCs: `dcinf` and `dcfresh` each a domain of its own, booted from the cached golden
layer, and `dcrep`, which joins dcfresh's domain and replicates with it. `dcinf` is
infected over LDAPS by the attacker scenarios one after the other, and each must be caught
by `restore check` (the real CLI) in the same verdict and JSON as the host checks; `dcfresh`
has its krbtgt rotated twice by a real `restore run` of a `directory: rotate_krbtgt` step
(after a dry run that must change nothing), a fresh Kerberos ticket (MIT kinit/kvno inside
the DC host) proves the new key version, and the DC is then clean. A CA that did not issue
the DC's certificate is refused. SYSVOL is written over SMB by the attacker and read back.
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

from .directory_graphs import one_step, service, write_graph

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
            [("dcinf", Platform.LINUX), ("dcfresh", Platform.LINUX), ("dcrep", Platform.LINUX)],
            roles=dict.fromkeys(("dcinf", "dcfresh", "dcrep"), "domain_controller"),
            replicas={"dcrep": "dcfresh"},  # joins dcfresh's domain, replicates with it
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
    assert set(hosts["lab_domain_controllers"]["hosts"]) == {"dcinf", "dcfresh", "dcrep"}
    # the replica is of dcfresh's domain, with a CA and a certificate name of its own
    rep, fresh = hosts["lab_linux"]["hosts"]["dcrep"], hosts["lab_linux"]["hosts"]["dcfresh"]
    assert rep["restore_ad_domain"] == fresh["restore_ad_domain"]
    assert rep["restore_ldap_ca_file"] != fresh["restore_ldap_ca_file"]
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
        (
            "gpo-changed",
            "dir-gpo-changed",
            "immediate task 'update' runs \\\\lab.test\\netlogon\\locker.exe as NT AUTHORITY\\System",
        ),
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
        # Samba gives no per-value stamps: said so, with the groups changed after the incident
        dated = findings(host, {"warn"})["dir-privileged-added"]
        assert "no per-value stamps" in dated and "Domain Admins" in dated
    if scenario == "gpo-changed":
        # written over SMB by the attacker, read back over SMB with its path; a GPO that
        # deploys code after the incident is what only an attacker does
        assert host["verdict"] == "compromised"
        assert "Machine/Preferences/ScheduledTasks/ScheduledTasks.xml" in failed[check]
        assert "ScheduledTasks.xml" in failed["dir-sysvol"]
        # and the file itself is on the DC's disk, which the host checks watch too
        assert "ScheduledTasks" in failed["changed_since_incident"]


def test_hostile_sysvol_content_is_bounded_and_reported(dcs: DcLab) -> None:
    """A file over the read cap, an XML bomb, a name no Windows tool would write and a link
    out of the share: read as data, bounded, and the DC is not `clean`."""
    from restore.directory.sysvol import MAX_FILE_BYTES
    from restore.lab.dc_scenarios import write_sysvol

    host = dcs.lab.host("dcinf")
    gpo = f"Policies/{{{seeded_gpo_guid(dcs)}}}"
    write_sysvol(dcs.lab, host, f"{gpo}/Machine/big.bin", b"\0" * (2 * MAX_FILE_BYTES + 7))
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<ScheduledTasks>&b;</ScheduledTasks>"
    )
    write_sysvol(dcs.lab, host, f"{gpo}/User/Preferences/ScheduledTasks/ScheduledTasks.xml", bomb)
    folder = f"/var/lib/samba/sysvol/lab.test/{gpo}/Machine"
    dcs.lab.run_on(
        "dcinf", f"ln -s /etc/shadow '{folder}/shadow'; printf x > '{folder}/odd'$'\\n''|<x>'"
    )
    rc, checked = dcs.check("dcinf")
    assert rc == 3 and checked["verdict"] == "compromised"
    sysvol = next(f for f in checked["findings"] if f["check"] == "dir-sysvol")
    assert sysvol["status"] == "fail"
    text = "\n".join(sysvol["evidence"])
    assert f"Machine/big.bin: {2 * MAX_FILE_BYTES + 7} bytes, read up to the cap only" in text
    assert "declares a DTD or entities (refused, not expanded)" in text
    # Samba hides the link out of the share (wide links = no) and mangles the odd name:
    # neither is followed nor trusted, and nothing of /etc/shadow was read
    assert "root:" not in text
    kept = max((dcs.state / "evidence" / "dcinf").glob("directory-*.json"))
    files = [f for g in json.loads(kept.read_text())["sysvol"] for f in g["files"]]
    big = next(f for f in files if f["path"] == "Machine/big.bin")
    assert big["truncated"] and len(big["base64"]) <= 4 * MAX_FILE_BYTES // 3 + 4


def seeded_gpo_guid(dcs: DcLab) -> str:
    spec = load_inventory(dcs.inventory, with_secrets=True).host("dcinf")
    snapshot = read_directory(spec)
    names = [
        g.first("name") for g in snapshot.gpos if g.first("displayName") == "Workstation hardening"
    ]
    return names[0].strip("{}")


def test_rotation_dry_run_then_real_then_clean(dcs: DcLab, tmp_path: Path) -> None:
    graph = one_step(tmp_path / "graph.yaml", "dcfresh", "rotate_krbtgt")
    before = dcs.key_version("dcfresh")
    # a real Kerberos client (MIT kinit/kvno in the DC host) holds a TGT from before
    kinit(dcs, "dcfresh", "/tmp/before.cc")
    assert "kvno = " in kerberos(dcs, "dcfresh", "kvno -c /tmp/before.cc ldap/dc01.lab.test")
    state = tmp_path / "state"
    common = ("-i", str(dcs.inventory), "--yes", "--state-dir")
    dry = restore("run", str(graph), *common, str(tmp_path / "dry"), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dcs.key_version("dcfresh") == before  # a dry run changes nothing in the directory
    real = restore("run", str(graph), *common, str(state))
    assert real.returncode == 0, real.stderr + real.stdout
    assert dcs.key_version("dcfresh") == before + 2
    # the replica showed the first reset before the second was made (the step waited for
    # it, journaled below), and replicates the second too
    assert wait_key_version(dcs, "dcrep", before + 2) == before + 2
    # a TGT obtained now is signed with the key two versions above
    kinit(dcs, "dcfresh", "/tmp/after.cc")
    proved = kerberos(dcs, "dcfresh", "kvno -c /tmp/after.cc krbtgt/LAB.TEST@LAB.TEST")
    assert f"kvno = {before + 2}" in proved, proved
    exported = restore("journal", "export", "--state-dir", str(state), "--format", "json")
    events = json.loads(exported.stdout)["events"]
    done = [e for e in events if e["event"] == "succeeded" and e["host"] == "dcfresh"]
    assert done[-1]["detail"]["key_version_after"] == before + 2
    assert done[-1]["detail"]["replicas"] == ["dcrep"]
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
    # The TGT from before the rotation: Windows' KDC accepts the current and the previous
    # key (two resets put it out of reach); Samba's also accepts the one before that
    # (docs/directory.md). It is refused once its key is three versions old: the resets
    # really retire krbtgt's keys, as a ticket shows.
    old_tgt = "kvno -c /tmp/before.cc host/dc01.lab.test 2>&1; echo rc=$?"
    assert "rc=0" in kerberos(dcs, "dcfresh", old_tgt)  # Samba: two versions old, accepted
    reset_once(dcs, "dcfresh")
    refused = kerberos(dcs, "dcfresh", old_tgt.replace("host/", "cifs/"))
    assert "rc=0" not in refused and "Key version is not available" in refused, refused


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


def wait_key_version(dcs: DcLab, host: str, wanted: int, deadline_s: float = 120.0) -> int:
    """krbtgt's key version on `host` once it reaches `wanted` (or at the deadline)."""
    import time

    end = time.monotonic() + deadline_s
    seen = dcs.key_version(host)
    while seen < wanted and time.monotonic() < end:
        time.sleep(1.0)
        seen = dcs.key_version(host)
    return seen


def reset_once(dcs: DcLab, host: str) -> None:
    from restore.directory.connection import LdapTarget, bind_credentials, connect
    from restore.directory.krbtgt import read_state, reset_password

    spec = load_inventory(dcs.inventory, with_secrets=True).host(host)
    conn = connect(LdapTarget.for_host(spec), *bind_credentials(spec, "restore_ldap_admin"))
    try:
        reset_password(conn, read_state(conn, "DC=lab,DC=test").dn)
    finally:
        conn.unbind()


def kerberos(dcs: DcLab, host: str, script: str) -> str:
    return dcs.lab.run_on(host, f"export KRB5CCNAME=FILE:/tmp/default.cc\n{script}")


def kinit(dcs: DcLab, host: str, cache: str) -> None:
    """A TGT for the lab domain admin into `cache` (the password on stdin, inside the host)."""
    import shlex

    password = (
        load_inventory(dcs.inventory, with_secrets=True)
        .host(host)
        .secret("restore_lab_domain_admin_password")
    )
    assert password
    kerberos(
        dcs,
        host,
        f"printf '%s\\n' {shlex.quote(password)} | kinit -c {cache} Administrator@LAB.TEST",
    )


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
    graph = one_step(tmp_path / "graph.yaml", "dcinf", "disable_accounts", dcs.incident)
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


def journal_of(state: Path) -> list[dict[str, Any]]:
    exported = restore("journal", "export", "--state-dir", str(state), "--format", "json")
    events: list[dict[str, Any]] = json.loads(exported.stdout)["events"]
    return events


def step_details(events: list[dict[str, Any]], host: str, kind: str) -> list[dict[str, Any]]:
    started = {e["step"] for e in events if e["event"] == "started" and e["host"] == host
               and e["detail"].get("type") == kind}  # fmt: skip
    return [e["detail"] for e in events if e["event"] == "succeeded" and e["step"] in started
            and e["host"] == host]  # fmt: skip


def test_forest_recovery_restore_rotate_then_promote_again(dcs: DcLab, tmp_path: Path) -> None:
    """Last in this module (it rebuilds dcfresh and dcrep). As the example hospital does: the
    first DC restored (its golden image: a backup from before the attack, which knows no
    replica), krbtgt rotated on it without waiting for the old replica, which no longer
    replicates with it; then the replica promoted again from it (a fresh join, SYSVOL copied)
    and clean without a baseline: the run's own rotation proves krbtgt, and the replica's new
    machine account is the run's doing. A second rotation then waits for the new replica."""
    steps_first = ["evidence", "reimage", {"directory": "rotate_krbtgt"}, "check"]
    replicas = ["evidence", "reimage", "check"]
    graph = write_graph(
        tmp_path / "graph.yaml",
        [
            service("ad", ["dcfresh"], steps_first),
            service("ad-replicas", ["dcrep"], replicas, depends_on=["ad"]),
        ],
        dcs.incident,
    )
    state = tmp_path / "state"
    real = restore("run", str(graph), "-i", str(dcs.inventory), "--yes", "--state-dir", str(state))
    assert real.returncode == 0, real.stderr + real.stdout
    events = journal_of(state)
    (rotation,) = step_details(events, "dcfresh", "directory")
    assert rotation["replicas"] == []
    assert [r["host"] for r in rotation["not_replicas"]] == ["dcrep"]
    assert "not a domain controller of this directory" in rotation["not_replicas"][0]["why"]
    (promoted,) = step_details(events, "dcrep", "reimage")
    assert "joined dcfresh's domain" in promoted["message"]
    for host in ("dcfresh", "dcrep"):
        (check,) = step_details(events, host, "check")
        failing = {f["check"]: f["detail"] for f in check["findings"] if f["status"] != "warn"}
        assert check["verdict"] == "clean", (host, failing)
    # the replica has its primary's SYSVOL (Samba does not replicate it) and replicates again
    from restore.directory.checks import read_sysvol

    replica = load_inventory(dcs.inventory, with_secrets=True).host("dcrep")
    folders, problem = read_sysvol(replica, read_directory(replica))
    assert problem is None and folders, problem
    again = one_step(tmp_path / "again.yaml", "dcfresh", "rotate_krbtgt")
    second = restore("run", str(again), "-i", str(dcs.inventory), "--yes",
                     "--state-dir", str(tmp_path / "again"))  # fmt: skip
    assert second.returncode == 0, second.stderr + second.stdout
    (rotation,) = step_details(journal_of(tmp_path / "again"), "dcfresh", "directory")
    assert rotation["replicas"] == ["dcrep"] and rotation["not_replicas"] == []
