"""Registry hives in backups: autostart values read from real hives (written by hivex),
compared with the baseline's; corrupt and hostile hives are findings, never a crash."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from restore.backups import analysis, registry_hives, tree
from restore.backups.content import Content, ContentCache
from restore.backups.registry_hives import read_autostart
from restore.integrity.checks.indicators import load_indicators
from tests.hives import write_hive

RUN = r"Microsoft\Windows\CurrentVersion\Run"
WINLOGON = r"Microsoft\Windows NT\CurrentVersion\Winlogon"
SOFTWARE_PATH = "/C/Windows/System32/config/SOFTWARE"


def _software(tmp_path: Path, extra: dict[str, dict[str, str]] | None = None) -> bytes:
    keys = {
        RUN: {"SecurityHealth": r"%windir%\system32\SecurityHealthSystray.exe"},
        WINLOGON: {
            "Shell": "explorer.exe",
            "Userinit": "C:\\Windows\\system32\\userinit.exe,",
            "LegalNoticeText": "not an autostart value",
        },
        r"Microsoft\Windows\CurrentVersion\Uninstall\App": {"DisplayName": "App"},
    }
    for key, values in (extra or {}).items():
        keys.setdefault(key, {}).update(values)
    path = tmp_path / "SOFTWARE"
    write_hive(path, keys)
    return path.read_bytes()


def test_software_hive_autostart_values_are_read(tmp_path: Path) -> None:
    data = _software(
        tmp_path,
        {
            r"Wow6432Node\Microsoft\Windows\CurrentVersion\RunOnce": {"Setup": "c:\\s.exe"},
            r"Microsoft\Windows\CurrentVersion\Policies\Explorer\Run": {"P": "p.exe"},
        },
    )
    reading = read_autostart(data, registry_hives.SOFTWARE)
    assert reading.problems == ()
    found = {(v.key, v.name, v.data) for v in reading.values}
    assert found == {
        (rf"HKLM\SOFTWARE\{RUN}", "SecurityHealth", r"%windir%\system32\SecurityHealthSystray.exe"),
        (rf"HKLM\SOFTWARE\{WINLOGON}", "Shell", "explorer.exe"),
        (rf"HKLM\SOFTWARE\{WINLOGON}", "Userinit", "C:\\Windows\\system32\\userinit.exe,"),
        (
            r"HKLM\SOFTWARE\Wow6432Node\Microsoft\Windows\CurrentVersion\RunOnce",
            "Setup",
            "c:\\s.exe",
        ),
        (r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\Explorer\Run", "P", "p.exe"),
    }


def test_user_hive_run_keys_are_read(tmp_path: Path) -> None:
    path = tmp_path / "NTUSER.DAT"
    write_hive(
        path,
        {rf"Software\{RUN}Once": {"x": "cmd /c y"}, r"Software\Classes": {}},
        name="NTUSER.DAT",
    )
    reading = read_autostart(path.read_bytes(), registry_hives.NTUSER)
    assert reading.problems == ()
    assert [(v.key, v.name, v.data) for v in reading.values] == [
        (rf"HKCU\Software\{RUN}Once", "x", "cmd /c y")
    ]


@pytest.mark.parametrize(
    "data",
    [b"", b"regf", b"not a hive at all" * 100, b"regf" + b"\xff" * 9000],
    ids=["empty", "magic-only", "text", "garbage-after-magic"],
)
def test_what_is_not_a_hive_is_a_problem_not_a_crash(data: bytes) -> None:
    reading = read_autostart(data, registry_hives.SOFTWARE)
    assert reading.values == ()
    assert reading.problems and "not a hive regipy can read" in reading.problems[0]


def test_a_hive_cut_short_is_a_problem(tmp_path: Path) -> None:
    data = _software(tmp_path)
    reading = read_autostart(data[: len(data) // 2], registry_hives.SOFTWARE)
    assert reading.problems


def _patch_value_count(data: bytes, key_name: bytes, count: int) -> bytes:
    """The key node (nk) named ``key_name`` made to claim ``count`` values."""
    out = bytearray(data)
    at = data.find(b"nk")
    while at != -1:
        (name_len,) = struct.unpack_from("<H", data, at + 0x48)
        if name_len == len(key_name) and data[at + 0x4C : at + 0x4C + name_len] == key_name:
            struct.pack_into("<I", out, at + 0x24, count)
            return bytes(out)
        at = data.find(b"nk", at + 1)
    raise AssertionError(f"no key {key_name!r}")


def test_a_key_claiming_billions_of_values_is_bounded_and_reported(tmp_path: Path) -> None:
    data = _patch_value_count(_software(tmp_path), b"Run", 0xFFFFFFFF)
    reading = read_autostart(data, registry_hives.SOFTWARE)
    assert reading.problems, reading
    assert any(r"CurrentVersion\Run" in p for p in reading.problems)


def test_values_regipy_skips_quietly_are_not_taken_for_none(tmp_path: Path) -> None:
    data = _patch_value_count(_software(tmp_path), b"Run", 2)  # one more than it holds
    reading = read_autostart(data, registry_hives.SOFTWARE)
    assert any("2 values listed, 1 could be read" in p for p in reading.problems), reading


def test_the_parse_stops_at_its_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _software(tmp_path)
    monkeypatch.setattr(registry_hives, "PARSE_SECONDS", -1.0)  # already past
    reading = read_autostart(data, registry_hives.SOFTWARE)
    assert reading.values == ()
    assert reading.problems[-1] == "parse stopped after -1s"


def test_the_parse_stops_at_its_read_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _software(tmp_path)
    monkeypatch.setattr(registry_hives, "PARSE_READ_BUDGET", 100)
    reading = read_autostart(data, registry_hives.SOFTWARE)
    assert reading.values == ()
    assert reading.problems and "parse read more than" in reading.problems[0]


def test_hive_paths_are_matched_without_case() -> None:
    assert tree.registry_hive_kind("/C/WINDOWS/system32/CONFIG/software") == "software"
    assert tree.registry_hive_kind("/Users/Bob/NTUSER.DAT") == "ntuser"
    assert tree.registry_hive_kind("/C/Windows/System32/config/SOFTWARE.LOG1") is None
    assert tree.registry_hive_kind("/home/bob/ntuser.dat") is None


def _judge(snapshots: list[bytes]) -> list[list[analysis.Finding]]:
    """Each hive content as the SOFTWARE hive of one snapshot, judged against the first."""
    cache = ContentCache()
    rules = analysis.Rules(indicators=load_indicators())
    judged: list[list[analysis.Finding]] = []
    baseline = None
    for day, data in enumerate(snapshots):
        node = tree.Node(SOFTWARE_PATH, "file", len(data), 0o644, f"day{day}", f"day{day}", 0, 0)
        reading = read_autostart(data, registry_hives.SOFTWARE)
        cache.by_key[node.content_key()] = Content(sha256=str(day), truncated=False, hive=reading)
        if baseline is None:
            baseline = analysis.baseline_of([node], cache)
        judged.append(analysis.analyse([node], cache, baseline, rules))
    return judged


def test_added_and_changed_values_are_persistence_findings_escaped(tmp_path: Path) -> None:
    clean = _software(tmp_path)
    hostile_name = "Upd<b>[x]'\"|"
    hostile_data = 'powershell -w hidden -c "iex"\n' + "A" * 5000
    added = _software(tmp_path, {RUN: {hostile_name: hostile_data}})
    changed = _software(tmp_path, {WINLOGON: {"Userinit": "userinit.exe, evil.exe"}})
    day1, day2, day3, day4 = _judge([clean, clean, added, changed])
    assert day1 == [] and day2 == []
    (finding,) = day3
    assert (finding.check, finding.path, finding.severity) == (
        "persistence_run_key",
        SOFTWARE_PATH,
        analysis.SUSPECT,
    )
    assert finding.detail.startswith(
        rf"added since the baseline: HKLM\SOFTWARE\{RUN} value {hostile_name!r} = "
        + repr(hostile_data[: analysis.SHOWN_CHARS])
    )
    assert "\n" not in finding.detail and len(finding.detail) < 600
    (finding,) = day4
    assert "changed since the baseline" in finding.detail
    assert "'userinit.exe, evil.exe'" in finding.detail
    assert "(was 'C:\\\\Windows\\\\system32\\\\userinit.exe,')" in finding.detail


def test_a_corrupt_hive_makes_the_snapshot_suspect(tmp_path: Path) -> None:
    clean = _software(tmp_path)
    day1, day2 = _judge([clean, b"regf" + b"\0" * 5000])
    assert day1 == []
    assert [(f.check, f.severity) for f in day2] == [("unparsed_hive", analysis.SUSPECT)]
