"""SYSVOL in a DC's baseline: recorded by hash at capture, compared at check time (pure; the
lab test writes a backdated file over SMB into a real Samba DC)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from restore.directory import analysis, sysvol_baseline
from restore.directory.gpo_files import describe
from restore.directory.model import Entry, Snapshot
from restore.directory.sysvol import GpoFolder, SysvolFile
from restore.models import Finding, FindingStatus, Severity

GUID = "{5963E961-CF99-4431-B06E-378F0A6BC217}"
OTHER = "{6AC1786C-016F-11D2-945F-00C04FB984F9}"
INCIDENT = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)  # what a writer over SMB can set a file's time to
TASKS = "Machine/Preferences/ScheduledTasks/ScheduledTasks.xml"
TASK_XML = (
    b'<ScheduledTasks><ImmediateTaskV2 name="update"><Properties runAs="NT AUTHORITY\\System">'
    b"<Task><Actions><Exec><Command>locker.exe</Command></Exec></Actions></Task>"
    b"</Properties></ImmediateTaskV2></ScheduledTasks>"
)
HOSTILE = "Machine/odd\nname|<x>[y]'\"\udcff"


def gpo(guid: str = GUID, name: str = "Workstation hardening") -> Entry:
    return Entry(
        dn=f"CN={guid},CN=Policies,CN=System,DC=lab,DC=test",
        attrs={"displayname": (name,), "name": (guid,), "whenchanged": ("20261101000000.0Z",)},
    )


def snap(*gpos: Entry) -> Snapshot:
    return Snapshot("DC=lab,DC=test", "S-1-5-21-1", datetime.now(UTC), (), gpos or (gpo(),))


def file(path: str, data: bytes = b"[General]\r\nVersion=1\r\n") -> SysvolFile:
    import hashlib

    return SysvolFile(
        path,
        "file",
        len(data),
        LONG_AGO,
        hashlib.sha256(data).hexdigest(),
        data=data,
        deployed=describe(path, data),
    )


SEED = (file("GPT.INI"), file("Machine/Registry.pol", b"PReg\x01"), file(HOSTILE, b"x"))


def folders(*files: SysvolFile, guid: str = GUID, problems: tuple[str, ...] = ()) -> dict:
    return {guid.upper(): GpoFolder(guid, files, problems)}


def baseline(found: dict[str, GpoFolder]) -> dict[str, Any]:
    """The directory section as it comes back from a manifest (through JSON, as written)."""
    return json.loads(json.dumps({"sysvol": sysvol_baseline.record(found)}))


def sysvol(now: dict[str, GpoFolder], base: dict[str, Any] | None, s: Snapshot | None = None):
    found = analysis.evaluate(s or snap(), INCIDENT, base, now)
    return next(f for f in found if f.check == "dir-sysvol")


def failed(found: Finding, strong: bool) -> str:
    assert found.status is FindingStatus.FAIL, found
    assert found.severity is (Severity.STRONG if strong else Severity.DRIFT), found
    return "\n".join(found.evidence)


def test_a_fresh_dc_is_as_in_its_baseline_hostile_names_included() -> None:
    found = sysvol(folders(*SEED), baseline(folders(*SEED)))
    assert found.status is FindingStatus.PASS
    assert found.detail == "SYSVOL as in the baseline: 3 files in 1 GPO folders"


def test_a_backdated_task_is_missed_by_write_time_and_caught_by_the_baseline() -> None:
    attacked = folders(*SEED, file(TASKS, TASK_XML))  # written over SMB, dated long ago
    # without a baseline only write times can be judged: the backdated file passes
    assert sysvol(attacked, None).status is FindingStatus.PASS
    evidence = failed(sysvol(attacked, baseline(folders(*SEED))), strong=True)
    assert f"Workstation hardening {GUID}: {TASKS} added [scheduled task]" in evidence


def test_a_changed_hash_is_found_and_strong_only_for_what_computers_run() -> None:
    base = baseline(folders(*SEED))
    gpt = failed(
        sysvol(folders(file("GPT.INI", b"[General]\r\nVersion=2\r\n"), *SEED[1:]), base), False
    )
    assert "GPT.INI changed (sha256 " in gpt
    policy = folders(SEED[0], file("Machine/Registry.pol", b"PReg\x01DisableAntiSpyware"), SEED[2])
    assert "Machine/Registry.pol changed" in failed(sysvol(policy, base), strong=True)


def test_a_removed_file_is_found_and_a_removed_gpo_too() -> None:
    script = file("Machine/Scripts/Startup/edr-install.bat", b"install.exe /quiet")
    base = baseline(folders(*SEED, script))
    evidence = failed(sysvol(folders(*SEED), base), strong=True)
    assert "Machine/Scripts/Startup/edr-install.bat removed [script]" in evidence
    gone = failed(sysvol(folders(guid=OTHER), base, snap(gpo(OTHER, "Other"))), strong=False)
    assert f"{GUID}: GPO of the baseline gone from the directory (4 files)" in gone


def test_a_gpo_new_since_the_baseline_has_each_file_added() -> None:
    now = folders(*SEED) | folders(file(TASKS, TASK_XML), guid=OTHER)
    evidence = failed(
        sysvol(now, baseline(folders(*SEED)), snap(gpo(), gpo(OTHER, "Spread"))), strong=True
    )
    assert f"Spread {OTHER}: {TASKS} added (a GPO new since the baseline)" in evidence


def test_a_folder_cut_now_is_said_and_never_clean_and_nothing_is_called_removed() -> None:
    base = baseline(folders(*SEED))
    cut = sysvol(folders(SEED[0], problems=("more than 500 entries: the rest was not read",)), base)
    evidence = failed(cut, strong=False)
    assert "this read of the folder was cut by the bounds" in evidence
    assert "removed" not in evidence


def test_a_baseline_cut_at_capture_is_said_and_its_additions_are_not_strong() -> None:
    base = baseline(folders(*SEED, problems=("Machine: deeper than 12 levels, not read",)))
    evidence = failed(sysvol(folders(*SEED, file(TASKS, TASK_XML)), base), strong=False)
    assert "the baseline's read of this folder was cut by the bounds" in evidence
    alone = failed(sysvol(folders(*SEED), base), strong=False)
    assert "the baseline's read of this folder was cut" in alone


def test_an_unreadable_record_is_an_error_and_an_old_baseline_keeps_write_times() -> None:
    broken = sysvol(folders(*SEED), {"sysvol": {"format": 99}})
    assert broken.status is FindingStatus.ERROR and "format 99" in broken.detail
    old = sysvol(folders(*SEED), {"privileged": {}})  # captured before SYSVOL was recorded
    assert old.status is FindingStatus.PASS and "no SYSVOL record" in old.detail


def test_the_capture_is_refused_what_the_bounds_cut() -> None:
    big = SysvolFile("Machine/app.msi", "file", 5 << 20, LONG_AGO, "ab" * 32, truncated=True)
    cut = sysvol_baseline.cut_by_bounds(
        folders(SEED[0], big) | folders(guid=OTHER, problems=("Machine: cannot list: denied",))
    )
    assert cut == [
        (GUID, f"Machine/app.msi: {5 << 20} bytes, read up to the cap only"),
        (OTHER, "Machine: cannot list: denied"),
    ]
    assert sysvol_baseline.cut_by_bounds(folders(*SEED)) == []


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("Machine/Preferences/ScheduledTasks/ScheduledTasks.xml", "scheduled task"),
        ("User/Scripts/scripts.ini", "script"),
        ("Machine/Scripts/Startup/run.ps1", "script"),
        ("Machine/Preferences/Registry/Registry.xml", "registry preference"),
        ("MACHINE/REGISTRY.POL", "registry policy"),
        ("GPT.INI", None),
        ("Machine/Microsoft/Windows NT/SecEdit/GptTmpl.inf", None),
    ],
)
def test_what_a_file_makes_computers_run(path: str, kind: str | None) -> None:
    assert sysvol_baseline.deploy_kind(path) == kind


def test_a_link_as_in_the_baseline_is_still_not_followed_nor_clean() -> None:
    link = SysvolFile("Machine/shadow", "link", 11, LONG_AGO, target="/etc/shadow")
    found = sysvol(folders(*SEED, link), baseline(folders(*SEED, link)))
    assert "link to /etc/shadow (not followed)" in failed(found, strong=False)


def test_a_gpo_without_a_folder_is_never_clean_unless_the_baseline_saw_it_so() -> None:
    """A Samba replica DC has no GPO folder (SYSVOL is not replicated): recorded as missing
    at capture, it is as in the baseline; without a baseline, or gone since, it is not."""
    missing = {GUID.upper(): GpoFolder(GUID, missing=True)}
    alone = failed(sysvol(missing, None), strong=False)
    assert f"Workstation hardening {GUID}: no folder for this GPO in SYSVOL" in alone
    assert sysvol(missing, baseline(missing)).status is FindingStatus.PASS
    assert baseline(missing)["sysvol"]["folders"][GUID]["missing"] is True
    gone = failed(sysvol(missing, baseline(folders(*SEED))), strong=True)
    assert "Machine/Registry.pol removed [registry policy]" in gone
    back = failed(sysvol(folders(*SEED), baseline(missing)), strong=True)
    assert "Machine/Registry.pol added [registry policy]" in back
