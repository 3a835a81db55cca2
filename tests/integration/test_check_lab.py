"""`restore check` and `restore baseline capture` on real lab hosts.

Linux hosts are real sshd in namespaces (host keys verified from the lab's known_hosts);
Windows hosts are the lab's WS-Management endpoint over HTTPS, certificate validated against
the lab CA, through real pywinrm. Every check runs on fresh hosts (all clean, with and
without a baseline), then each infection scenario is planted on its own host and must be
caught, with the ransom note named in the evidence and still on the host afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from restore.lab import Lab
from restore.models import Platform

LINUX_SCENARIOS = {
    "ransom-notes": {"ransom_notes", "encrypted_files"},
    "cron-persistence": {"persistence", "critical_files"},
    "backdoor-account": {"uid0_accounts", "authorized_keys"},
    "modified-binary": {"package_integrity", "critical_binaries"},
    "ld-preload": {"ld_preload"},
}
WINDOWS_SCENARIOS = {
    "scheduled-task": {"scheduled_tasks", "run_keys"},
    "local-admin": {"local_admins"},
    "defender-disabled": {"defender"},
    "ransom-notes": {"ransom_notes", "encrypted_files"},
    "log-cleared": {"security_log_cleared"},
    "shadow-copies-deleted": {"shadow_copies"},
}
STRONG = {
    "ransom-notes",
    "backdoor-account",
    "modified-binary",
    "ld-preload",
    "shadow-copies-deleted",
}


def _name(platform: str, scenario: str) -> str:
    return f"{platform}-{scenario.replace('-', '')[:12]}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Path, Path]]:
    state = tmp_path_factory.mktemp("checklab")
    lab = Lab(state)
    wanted = [("lclean", Platform.LINUX), ("wclean", Platform.WINDOWS)]
    wanted += [(_name("l", s), Platform.LINUX) for s in LINUX_SCENARIOS]
    wanted += [(_name("w", s), Platform.WINDOWS) for s in WINDOWS_SCENARIOS]
    try:
        inventory = lab.up(wanted)
        yield lab, inventory, state
    finally:
        lab.down()


def restore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "restore", *args], capture_output=True, text=True, timeout=600
    )


def by_host(stdout: str) -> dict[str, dict[str, Any]]:
    return {h["host"]: h for h in json.loads(stdout)["hosts"]}


def failed_checks(host: dict[str, Any]) -> set[str]:
    return {f["check"] for f in host["findings"] if f["status"] in {"fail", "error"}}


def test_fresh_then_infected(lab: tuple[Lab, Path, Path]) -> None:
    lab_, inventory, state = lab
    inv = str(inventory)
    # 1. fresh hosts, no baseline: no false positive
    fresh = restore("check", "-i", inv, "--state-dir", str(state), "--format", "json")
    hosts = by_host(fresh.stdout)
    assert fresh.returncode == 0, (fresh.stderr, {h: failed_checks(v) for h, v in hosts.items()})
    assert {h["verdict"] for h in hosts.values()} == {"clean"}
    # 2. baseline from the fresh hosts, then still clean against it
    baseline = state / "baseline"
    captured = restore(
        "baseline",
        "capture",
        "-i",
        inv,
        "-o",
        str(baseline),
        "--state-dir",
        str(state),
        "--format",
        "json",
    )
    assert captured.returncode == 0, captured.stderr
    index_sha = json.loads(captured.stdout)["index_sha256"]
    same = restore(
        "check",
        "-i",
        inv,
        "--baseline",
        str(baseline),
        "--baseline-sha256",
        index_sha,
        "--state-dir",
        str(state),
        "--format",
        "json",
    )
    hosts = by_host(same.stdout)
    assert same.returncode == 0, {h: failed_checks(v) for h, v in hosts.items()}
    # 3. every scenario on its own host
    for scenario in LINUX_SCENARIOS:
        lab_.infect(_name("l", scenario), scenario)
    for scenario in WINDOWS_SCENARIOS:
        lab_.infect(_name("w", scenario), scenario)
    infected = restore(
        "check",
        "-i",
        inv,
        "--baseline",
        str(baseline),
        "--state-dir",
        str(state),
        "--format",
        "json",
    )
    assert infected.returncode == 3, infected.stderr
    hosts = by_host(infected.stdout)
    assert hosts["lclean"]["verdict"] == "clean", failed_checks(hosts["lclean"])
    assert hosts["wclean"]["verdict"] == "clean", failed_checks(hosts["wclean"])
    for platform, scenarios in (("l", LINUX_SCENARIOS), ("w", WINDOWS_SCENARIOS)):
        for scenario, expected in scenarios.items():
            host = hosts[_name(platform, scenario)]
            want = "compromised" if scenario in STRONG else "suspect"
            assert host["verdict"] == want, (scenario, failed_checks(host))
            assert expected <= failed_checks(host), (scenario, failed_checks(host))
            for finding in host["findings"]:
                assert finding["detail"] and "\n" not in finding["detail"]
    # 4. the ransom note is in the evidence, copied with custody, and still on the host
    notes = next(
        f for f in hosts[_name("l", "ransom-notes")]["findings"] if f["check"] == "ransom_notes"
    )
    assert "/srv/data/README_RESTORE_FILES.txt" in notes["evidence"]
    still = lab_.run_on(_name("l", "ransom-notes"), "cat /srv/data/README_RESTORE_FILES.txt")
    assert "encrypted" in still
    custody = (state / "evidence" / _name("l", "ransom-notes") / "custody.jsonl").read_text()
    record = next(
        json.loads(line) for line in custody.splitlines() if "README_RESTORE_FILES" in line
    )
    stored = Path(record["stored_as"])
    assert stored.read_text() == still and record["sha256"] == record["remote_sha256"]
    win_notes = next(
        f for f in hosts[_name("w", "ransom-notes")]["findings"] if f["check"] == "ransom_notes"
    )
    assert "C:\\Data\\Restore-My-Files.txt" in win_notes["evidence"]
    # 5. a tampered baseline is detected, never trusted
    manifest = baseline / "lclean.json"
    manifest.write_text(manifest.read_text().replace('"root"', '"r00t"', 1))
    tampered = restore(
        "check",
        "-i",
        inv,
        "lclean",
        "--baseline",
        str(baseline),
        "--state-dir",
        str(state),
        "--format",
        "json",
    )
    host = by_host(tampered.stdout)["lclean"]
    assert tampered.returncode == 3 and host["verdict"] == "suspect"
    assert "modified after capture" in next(
        f["detail"] for f in host["findings"] if f["check"] == "baseline"
    )


def test_hung_and_unreachable_hosts_do_not_stall_others(lab: tuple[Lab, Path, Path]) -> None:
    lab_, inventory, state = lab
    lab_.fault("lclean", "hang")
    lab_.fault("wclean", "hang")
    lab_.fault("l-ldpreload", "unreachable")
    try:
        started = time.monotonic()
        result = restore(
            "check",
            "-i",
            str(inventory),
            "lclean",
            "wclean",
            "l-ldpreload",
            "l-modifiedbina",
            "--host-timeout",
            "20",
            "--no-evidence",
            "--state-dir",
            str(state),
            "--format",
            "json",
        )
        elapsed = time.monotonic() - started
    finally:
        for name in ("lclean", "wclean", "l-ldpreload"):
            lab_.fault(name, None)
    hosts = by_host(result.stdout)
    assert elapsed < 60, elapsed
    for name in ("lclean", "wclean", "l-ldpreload"):
        assert hosts[name]["verdict"] == "unreachable", hosts[name]
        assert hosts[name]["findings"][0]["check"] == "connect"
    assert hosts["l-modifiedbina"]["verdict"] in {"clean", "compromised"}  # checked all the same
    assert result.returncode in {1, 3}


def test_unknown_host_key_and_untrusted_certificate_are_refused(
    lab: tuple[Lab, Path, Path], tmp_path: Path
) -> None:
    import yaml

    _, inventory, state = lab
    data = yaml.safe_load(inventory.read_text())

    def host_vars(name: str) -> dict[str, Any]:
        groups = data["all"]["children"].values()
        return next(g["hosts"][name] for g in groups if (g["hosts"] or {}).get(name))

    linux = host_vars("lclean")
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    linux["ansible_ssh_common_args"] = f"-o UserKnownHostsFile={empty}"
    windows = host_vars("wclean")
    del windows["ansible_winrm_ca_trust_path"]  # the lab CA is not trusted by the system
    edited = tmp_path / "inventory.yml"
    edited.write_text(yaml.safe_dump(data))
    base = ["check", "-i", str(edited), "lclean", "wclean", "--no-evidence"]
    strict = restore(*base, "--state-dir", str(state), "--format", "json")
    hosts = by_host(strict.stdout)
    assert strict.returncode == 1
    assert "unknown" in hosts["lclean"]["findings"][0]["detail"]
    assert hosts["wclean"]["verdict"] == "unreachable"
    assert "certificate" in hosts["wclean"]["findings"][0]["detail"].lower()
    insecure = restore(
        *base, "wclean", "--winrm-insecure", "--state-dir", str(state), "--format", "json"
    )
    assert by_host(insecure.stdout)["wclean"]["verdict"] != "unreachable"
