"""`restore backups scan` against real restic repositories built on the control node.

The repositories are built once for the module (restic on a local directory is the real
thing: the same ls/dump the scan uses against a backup host). Every scan goes through the
real `restore` binary, so exit codes and JSON are those a script sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from restore.backups import seed
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.transports import connect_host

PASSWORD = "lab-restic-password"


def _hostile_history(workdir: Path) -> Path:
    """Two snapshots; the second holds odd names and a file far larger than the read cap."""
    repo, root = workdir / "repo", workdir / "host"
    history = seed.History(days=1)
    seed.restic(repo, PASSWORD, "init")
    seed.base_tree(root, history)
    seed.backup(repo, PASSWORD, root, datetime(2026, 11, 1, 2), history.tag)
    data = os.fsencode(root / "var/lib/postgresql/data")
    # the last name mimics the end of a `restic find` listing element
    fake_end = b'"snapshot":"' + b"a" * 64 + b'"}'
    for name in (b"line\nbreak|pipe.txt", b"bad-\xff\xfe-utf8.txt", b"<b>[x]'\".txt", fake_end):
        with open(os.path.join(data, name), "wb") as handle:
            handle.write(b"odd\n")
    with open(os.path.join(os.fsencode(root / "usr/bin"), b"tool\n|\xfe"), "wb") as handle:
        handle.write(b"#!/bin/sh\n")
    os.chmod(os.path.join(os.fsencode(root / "usr/bin"), b"tool\n|\xfe"), 0o755)
    with open(root / "usr/bin/huge", "wb") as handle:
        handle.truncate(12 << 20)  # 12 MiB of zeros, scanned with a 1 MiB cap
    seed.backup(repo, PASSWORD, root, datetime(2026, 11, 2, 2), history.tag)
    return repo


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("backups")
    repos = {
        "dwell01": seed.build(
            base / "dwell", PASSWORD, seed.History(persistence_day=6, encryption_day=9)
        ),
        "clean01": seed.build(base / "clean", PASSWORD, seed.History(days=3)),
        "oldbad01": seed.build(base / "oldbad", PASSWORD, seed.History(days=3, encryption_day=1)),
        "hostile01": _hostile_history(base / "hostile"),
    }
    hosts = {
        name: {
            "restore_data_backup_host": "backup01",
            "restore_data_repository": str(repo),
            "restore_data_tag": "host-fs",
        }
        for name, repo in repos.items()
    }
    hosts["backup01"] = {"ansible_connection": "local"}
    inventory = {"all": {"vars": {"restore_data_password": PASSWORD}, "hosts": hosts}}
    path = base / "inventory.yml"
    path.write_text(json.dumps(inventory))
    return path


def _scan(inventory: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "restore",
            "backups",
            "scan",
            "-i",
            str(inventory),
            "--format",
            "json",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, data, proc.stderr


def _days(host: dict[str, Any]) -> list[str]:
    return [s["verdict"] for s in host["snapshots"]]


def test_dwell_names_day5_the_last_clean_snapshot(inventory: Path) -> None:
    rc, data, err = _scan(inventory, "dwell01")
    assert rc == 0, err
    host = data["hosts"][0]
    assert set(host) >= {"host", "repository", "tag", "snapshots", "last_clean"}
    assert host["tag"] == "host-fs"
    verdicts = _days(host)
    assert verdicts[:5] == ["clean"] * 5
    assert verdicts[5:8] == ["suspect"] * 3  # the foothold: cron job and extra key
    assert verdicts[8:] == ["compromised"] * 2  # encrypted, notes
    day5 = host["snapshots"][4]
    assert host["last_clean"] == {"id": day5["id"], "time": day5["time"]}
    assert day5["time"].startswith("2026-11-14T02:00:00")
    day6 = {(f["check"], f["path"]) for f in host["snapshots"][5]["findings"]}
    assert ("persistence_cron", "/etc/cron.d/.sync") in day6
    assert ("authorized_keys", "/root/.ssh/authorized_keys") in day6
    day9 = {f["check"] for f in host["snapshots"][8]["findings"]}
    assert {"ransom_note", "encrypted_file"} <= day9
    for snapshot in host["snapshots"]:
        assert set(snapshot) >= {"id", "time", "verdict", "findings"}
        for finding in snapshot["findings"]:
            assert set(finding) >= {"check", "detail", "path"}
    # dedup: each unchanged file is read once for the ten snapshots
    assert host["read"]["cache_hits"] > host["read"]["files"]


def test_every_snapshot_clean_chooses_the_newest(inventory: Path) -> None:
    rc, data, err = _scan(inventory, "clean01")
    assert rc == 0, err
    host = data["hosts"][0]
    assert _days(host) == ["clean"] * 3
    assert host["last_clean"]["id"] == host["snapshots"][-1]["id"]


def test_oldest_already_compromised_leaves_nothing_clean(inventory: Path) -> None:
    rc, data, err = _scan(inventory, "oldbad01")
    assert rc == 3, err
    host = data["hosts"][0]
    assert _days(host) == ["compromised"] * 3
    assert host["last_clean"] is None


def test_hostile_names_and_a_huge_file_are_bounded(inventory: Path) -> None:
    rc, data, err = _scan(inventory, "hostile01", "--file-cap-mib", "1")
    assert rc == 0, err
    host = data["hosts"][0]
    first, second = host["snapshots"]
    assert first["verdict"] == "clean"
    assert second["verdict"] == "suspect"  # a new executable in /usr/bin
    paths = {f["path"]: f for f in second["findings"]}
    assert paths["/usr/bin/huge"]["check"] in {"truncated", "new_system_executable"}
    checks = {(f["check"], f["path"]) for f in second["findings"]}
    assert ("truncated", "/usr/bin/huge") in checks
    assert any(p.startswith("/usr/bin/tool\n|") for p in paths)
    # the fake listing end did not cut the listing
    assert "read_error" not in {f["check"] for f in second["findings"]}
    # at most the cap was read of the 12 MiB file, whatever else was read
    assert host["read"]["bytes"] < 4 << 20
    # the table survives the same names (no markup, no crash)
    table = subprocess.run(
        [
            sys.executable,
            "-m",
            "restore",
            "backups",
            "scan",
            "-i",
            str(inventory),
            "hostile01",
            "--file-cap-mib",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert table.returncode == 0, table.stderr
    assert "tool\\n|" in table.stdout


def test_every_host_scanned_by_default_and_the_worst_exit_wins(inventory: Path) -> None:
    rc, data, _ = _scan(inventory, "clean01", "oldbad01")
    assert rc == 3
    assert [h["host"] for h in data["hosts"]] == ["clean01", "oldbad01"]


def test_wrong_password_is_an_operational_failure(tmp_path: Path, inventory: Path) -> None:
    spec = json.loads(inventory.read_text())
    spec["all"]["vars"]["restore_data_password"] = "not-the-password"
    other = tmp_path / "inventory.yml"
    other.write_text(json.dumps(spec))
    rc, data, err = _scan(other, "clean01")
    assert rc == 1
    assert "error" in data["hosts"][0]
    assert "not-the-password" not in err + json.dumps(data)


def test_bad_input_exits_2_naming_the_problem(tmp_path: Path, inventory: Path) -> None:
    hashes = tmp_path / "bad.txt"
    hashes.write_text("not-a-hash\n")
    rc, _, err = _scan(inventory, "clean01", "--bad-hashes", str(hashes))
    assert rc == 2
    assert "bad.txt" in err and "Traceback" not in err
    rc, _, err = _scan(inventory, "nosuchhost")
    assert rc == 2
    assert "nosuchhost" in err


def test_known_bad_hash_marks_the_snapshot_compromised(tmp_path: Path, inventory: Path) -> None:
    rc, data, _ = _scan(inventory, "clean01")
    assert rc == 0
    # the hash of /etc/crontab as seeded: on the list, every snapshot holding it is compromised
    import hashlib

    crontab = "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"
    hashes = tmp_path / "bad.txt"
    hashes.write_text(hashlib.sha256(crontab.encode()).hexdigest() + "  crontab\n")
    rc, data, _ = _scan(inventory, "clean01", "--bad-hashes", str(hashes))
    assert rc == 3
    host = data["hosts"][0]
    assert _days(host) == ["compromised"] * 3
    assert {f["check"] for f in host["snapshots"][0]["findings"]} == {"known_bad_hash"}


def test_yara_rules_name_the_rule_and_the_path(tmp_path: Path, inventory: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "c2").mkdir(parents=True)
    (rules / "c2" / "beacon.yar").write_text(
        'rule attacker_c2 {\n  strings: $ip = "203.0.113.7"\n  condition: $ip\n}\n'
    )
    (rules / "README.txt").write_text("not a rule file: ignored\n")
    rc, data, err = _scan(inventory, "dwell01", "--rules", str(rules))
    assert rc == 0, err
    host = data["hosts"][0]
    # the rule turns the quiet foothold of day 6 from suspect into compromised
    assert _days(host)[:6] == ["clean"] * 5 + ["compromised"]
    assert host["last_clean"]["id"] == host["snapshots"][4]["id"]
    hits = [f for f in host["snapshots"][5]["findings"] if f["check"] == "yara"]
    assert [(f["path"], f["detail"]) for f in hits] == [
        ("/etc/cron.d/.sync", "matches YARA rule c2/beacon.yar:attacker_c2")
    ]


def test_a_yara_rule_that_does_not_compile_exits_2_naming_file_and_line(
    tmp_path: Path, inventory: Path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "good.yar").write_text('rule ok { strings: $a = "x" condition: $a }\n')
    (rules / "broken.yara").write_text('rule b {\n  strings: $a = "x"\n  condition: $a and\n}\n')
    rc, data, err = _scan(inventory, "clean01", "--rules", str(rules))
    assert rc == 2
    assert data == {}
    assert f"{rules / 'broken.yara'}:4" in err and "Traceback" not in err
    assert "fix the rule" in err
    rc, _, err = _scan(inventory, "clean01", "--rules", str(tmp_path / "none"))
    assert rc == 2 and "not a directory" in err


def test_native_reader_and_restic_binary_judge_alike(inventory: Path) -> None:
    """The native reader (local repositories) and the restic binary (sftp: and the rest)
    give the same snapshots, verdicts and findings, hostile names included (where the
    native reader reads more: see below)."""
    from restore.backups.analysis import Rules
    from restore.backups.locate import source_for
    from restore.backups.scan import ScanOptions, scan_host
    from restore.integrity.checks.indicators import load_indicators

    inv = load_inventory([inventory], with_secrets=True)
    rules = Rules(indicators=load_indicators(), bad_hashes=frozenset({"0" * 64}))
    for name in ("dwell01", "hostile01"):
        source = source_for(inv.host(name), inv, None)
        by_reader = {}
        for reader in ("native", "restic"):
            result = scan_host(source, ScanOptions(rules=rules, file_cap=1 << 20, reader=reader))
            assert result.error is None
            data = result.to_json()
            processes = data.pop("read")["restic_processes"]
            assert (processes == 0) == (reader == "native")
            by_reader[reader] = data
        native, binary = by_reader["native"], by_reader["restic"]
        # restic dump cannot find a name that is not UTF-8 (its JSON listing changed it);
        # the native reader reads the node it walked to: it misses nothing restic read
        for snapshot in binary["snapshots"]:
            snapshot["findings"] = [f for f in snapshot["findings"] if f["check"] != "unreadable"]
        assert not [
            f for s in native["snapshots"] for f in s["findings"] if f["check"] == "unreadable"
        ]
        assert native == binary


def test_backup_host_over_ssh_is_read_by_sftp_with_the_inventory_settings(
    tmp_path: Path, inventory: Path, lab: Lab
) -> None:
    """The repository lives on a lab backup host, found as restore_data finds it; restic
    runs on the control node and reads it over SFTP with the lab's key and known_hosts."""
    spec = json.loads(inventory.read_text())
    clean_repo = Path(spec["all"]["hosts"]["clean01"]["restore_data_repository"])
    archive = tmp_path / "repo.tar"
    subprocess.run(["tar", "-C", str(clean_repo), "-cf", str(archive), "."], check=True)
    host_spec = load_inventory(lab.inventory_file, with_secrets=True).host("alpha")
    transport = connect_host(host_spec)
    try:
        transport.put(archive, "/var/tmp/repo.tar", timeout=60)
        out = transport.run(
            "rm -rf /srv/backup/restic && mkdir -p /srv/backup/restic && "
            "tar -C /srv/backup/restic -xf /var/tmp/repo.tar && rm /var/tmp/repo.tar",
            timeout=60,
        )
        assert out.rc == 0, out.stderr
        extra = tmp_path / "backed_up.yml"
        extra.write_text(
            json.dumps(
                {
                    "all": {
                        "hosts": {
                            "pg01": {
                                "ansible_connection": "local",
                                "restore_data_backup_host": "alpha",
                                "restore_data_tag": "host-fs",
                                "restore_data_password": PASSWORD,
                            }
                        }
                    }
                }
            )
        )
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "restore",
                "backups",
                "scan",
                "-i",
                str(lab.inventory_file),
                "-i",
                str(extra),
                "pg01",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        host = json.loads(proc.stdout)["hosts"][0]
        assert host["repository"] == f"sftp:root@{host_spec.address}:/srv/backup/restic"
        assert _days(host) == ["clean"] * 3
        assert host["last_clean"]["id"] == host["snapshots"][-1]["id"]
    finally:
        transport.run("rm -rf /srv/backup/restic /var/tmp/repo.tar", timeout=60)
        transport.close()


ROLES = Path(__file__).resolve().parents[2] / "playbooks" / "roles"


def _restore_data(tmp_path: Path, inventory: Path, host: str, **extra: str) -> tuple[int, str]:
    """The restore_data role, run by the real ansible-playbook on the control node, with
    restore_data_scan on: what `restore run` does through ansible-runner, minus the engine."""
    spec = json.loads(inventory.read_text())
    for name in spec["all"]["hosts"]:
        spec["all"]["hosts"][name]["ansible_connection"] = "local"
        spec["all"]["hosts"][name]["ansible_python_interpreter"] = sys.executable
    tmp_path.mkdir(parents=True, exist_ok=True)
    local = tmp_path / "inventory.yml"
    local.write_text(json.dumps(spec))
    play = tmp_path / "play.yml"
    variables = {
        "restore_data_scan": True,
        "restore_data_tag": "host-fs",
        "restore_data_target": str(tmp_path / "target"),
        "restore_data_staging": str(tmp_path / "staging"),
        "restore_data_control_tmp": str(tmp_path / "transit"),
        "restore_incident_start": "2026-11-18T00:00:00+00:00",
        **extra,
    }
    play.write_text(
        json.dumps(
            [
                {
                    "hosts": host,
                    "gather_facts": False,
                    "roles": [{"role": "restore_data", "vars": variables}],
                }
            ]
        )
    )
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(ROLES), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(local), str(play)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_restore_data_restores_the_last_clean_snapshot(tmp_path: Path, inventory: Path) -> None:
    rc, out = _restore_data(tmp_path, inventory, "dwell01")
    assert rc == 0, out
    target = tmp_path / "target"
    assert (target / "etc/cron.d/e2scrub_all").is_file()
    assert not (target / "etc/cron.d/.sync").exists()  # the day-6 foothold stayed behind
    assert (target / "root/.ssh/authorized_keys").read_text() == seed.ADMIN_KEY
    assert "2026-11-14T02:00:00" in out  # day 5, said in the play's output with the rejected


def test_restore_data_blocks_a_host_without_a_clean_snapshot(
    tmp_path: Path, inventory: Path
) -> None:
    rc, out = _restore_data(tmp_path, inventory, "oldbad01")
    assert rc != 0
    assert "no clean snapshot of oldbad01" in out
    assert not (tmp_path / "target").exists()


def test_restore_data_pin_of_a_suspect_snapshot_needs_a_name_and_reason(
    tmp_path: Path, inventory: Path
) -> None:
    _, data, _ = _scan(inventory, "dwell01")
    day7 = data["hosts"][0]["snapshots"][6]["id"]
    rc, out = _restore_data(tmp_path / "a", inventory, "dwell01", restore_data_snapshot=day7)
    assert rc != 0
    assert "needs restore_data_pin_by and restore_data_pin_reason" in out
    rc, out = _restore_data(
        tmp_path / "b",
        inventory,
        "dwell01",
        restore_data_snapshot=day7,
        restore_data_pin_by="Dr. Martin",
        restore_data_pin_reason="day-7 results, cron removed",
    )
    assert rc == 0, out
    assert (tmp_path / "b/target/etc/cron.d/.sync").exists()  # what was pinned, as pinned
    assert "Dr. Martin" in out


def test_restore_run_journals_and_reports_the_chosen_and_rejected_snapshots(
    tmp_path: Path, inventory: Path
) -> None:
    """`restore run` of restore_data with the scan: the step's journal row holds the choice
    (set_stats), and the report shows the snapshot restored and those rejected, and why;
    a host with nothing clean is blocked, and the report says so."""
    spec = json.loads(inventory.read_text())
    for name in spec["all"]["hosts"]:
        spec["all"]["hosts"][name]["ansible_connection"] = "local"
        spec["all"]["hosts"][name]["ansible_python_interpreter"] = sys.executable
    local = tmp_path / "inventory.yml"
    local.write_text(json.dumps(spec))
    play = tmp_path / "restore_data.yml"
    variables = {
        "restore_data_scan": True,
        "restore_data_tag": "host-fs",
        "restore_data_target": str(tmp_path / "target" / "{{ inventory_hostname }}"),
        "restore_data_staging": str(tmp_path / "staging" / "{{ inventory_hostname }}"),
        "restore_data_control_tmp": str(tmp_path / "transit"),
    }
    role = {"role": str(ROLES / "restore_data"), "vars": variables}
    play.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "roles": [role]}]))
    graph = tmp_path / "graph.json"
    graph.write_text(
        json.dumps(
            {
                "version": 1,
                "name": "scan",
                "incident": {"declared_at": "2026-11-18T00:00:00+00:00"},
                "services": [
                    {"id": sid, "priority": 1, "hosts": [host], "steps": [{"ansible": str(play)}]}
                    for sid, host in (("db", "dwell01"), ("old", "oldbad01"))
                ],
            }
        )
    )
    state = tmp_path / "state"
    restore = [sys.executable, "-m", "restore"]
    run = subprocess.run(
        [*restore, "run", str(graph), "-i", str(local), "--yes", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode != 0  # oldbad01 is blocked
    assert (tmp_path / "target/dwell01/etc/cron.d/e2scrub_all").is_file(), run.stdout + run.stderr
    assert not (tmp_path / "target/oldbad01").exists()
    report = subprocess.run(
        [*restore, "report", "--format", "json", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    points = {p["host"]: p for p in json.loads(report.stdout)["restore_points"]}
    dwell = points["dwell01"]
    assert dwell["chosen"]["time"].startswith("2026-11-14T02:00:00")  # day 5
    assert dwell["chosen"]["verdict"] == "clean"
    assert dwell["scanned"] == 10
    assert [r["verdict"] for r in dwell["rejected"]] == ["suspect"] * 3 + ["compromised"] * 2
    assert "persistence_cron: /etc/cron.d/.sync" in dwell["rejected"][0]["findings"]
    old = points["oldbad01"]
    assert old["chosen"] is None
    assert "no clean snapshot of oldbad01" in old["blocked"]
    markdown = subprocess.run(
        [*restore, "report", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "## Restore points (backup scan)" in markdown
    assert "rejected" in markdown and "persistence_cron: /etc/cron.d/.sync" in markdown


def test_a_tampered_pack_is_a_finding_never_a_crash(tmp_path: Path) -> None:
    """The native reader checks every blob's MAC before it decrypts it: a pack changed
    behind restic's back makes the snapshot suspect, with the reason, not a traceback."""
    repo = seed.build(tmp_path / "t", PASSWORD, seed.History(days=1))
    for pack in sorted((repo / "data").rglob("*")):
        if pack.is_file():
            raw = bytearray(pack.read_bytes())
            for at in range(64, len(raw) - 64, 4096):  # the header at the end is not read
                raw[at] ^= 0xFF
            pack.chmod(0o600)
            pack.write_bytes(bytes(raw))
    inventory = tmp_path / "inventory.yml"
    hosts = {
        "t01": {"restore_data_backup_host": "backup01", "restore_data_repository": str(repo)},
        "backup01": {"ansible_connection": "local"},
    }
    inventory.write_text(
        json.dumps({"all": {"vars": {"restore_data_password": PASSWORD}, "hosts": hosts}})
    )
    rc, data, err = _scan(inventory, "t01")
    assert rc == 3, err
    assert "Traceback" not in err
    (snapshot,) = data["hosts"][0]["snapshots"]
    assert snapshot["verdict"] == "suspect"
    assert any("fails its MAC" in f["detail"] for f in snapshot["findings"])
