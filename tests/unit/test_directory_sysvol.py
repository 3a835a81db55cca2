"""What a GPO's SYSVOL files deploy, and the GPO/SYSVOL findings, as pure functions (the lab
test writes the same files over SMB into a real Samba DC and reads them back)."""

from __future__ import annotations

from datetime import UTC, datetime

from restore.directory import analysis
from restore.directory.gpo_files import describe, raw
from restore.directory.model import Entry, Snapshot
from restore.directory.sysvol import GpoFolder, SysvolFile, dns_domain
from restore.models import FindingStatus, Severity

GUID = "{5963E961-CF99-4431-B06E-378F0A6BC217}"
INCIDENT = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
BEFORE = datetime(2026, 11, 1, tzinfo=UTC)
AFTER = datetime(2026, 11, 21, tzinfo=UTC)

IMMEDIATE = b"""<?xml version="1.0" encoding="utf-8"?>
<ScheduledTasks clsid="{CC63F200-7309-4ba0-B154-A71CD118DBCC}">
  <ImmediateTaskV2 clsid="{9756B581-76EC-4169-9AFC-0CA8D43ADB5F}" name="update">
    <Properties action="C" name="update" runAs="NT AUTHORITY\\System">
      <Task version="1.3"><Actions Context="Author"><Exec>
        <Command>\\\\lab.test\\netlogon\\locker.exe</Command><Arguments>-q</Arguments>
      </Exec></Actions></Task>
    </Properties>
  </ImmediateTaskV2>
</ScheduledTasks>
"""
TASKS = "Machine/Preferences/ScheduledTasks/ScheduledTasks.xml"


def test_an_immediate_task_is_named_with_its_command_and_account() -> None:
    found = describe(TASKS, IMMEDIATE)
    assert found.items == (
        "immediate task 'update' runs \\\\lab.test\\netlogon\\locker.exe -q as NT AUTHORITY\\System",
    )
    assert found.executes and found.kinds == {"immediate-task"} and not found.problems


def test_a_dtd_is_refused_never_expanded() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><ScheduledTasks>&b;</ScheduledTasks>'
    found = describe(TASKS, bomb)
    assert not found.items and found.executes
    assert "DTD" in found.problems[0]


def test_unknown_items_and_broken_xml_are_problems_not_silence() -> None:
    odd = describe(TASKS, b"<ScheduledTasks><Surprise/></ScheduledTasks>")
    assert odd.problems == ("ScheduledTasks.xml: item Surprise not understood",)
    broken = describe(TASKS, b"<ScheduledTasks><ImmediateTaskV2>")
    assert "not well-formed" in broken.problems[0]


def test_scripts_ini_in_utf16_names_each_script() -> None:
    text = "[Startup]\r\n0CmdLine=\\\\lab.test\\netlogon\\a.bat\r\n0Parameters=/s\r\n"
    found = describe("Machine/Scripts/scripts.ini", b"\xff\xfe" + text.encode("utf-16-le"))
    assert found.items == ("Startup script runs \\\\lab.test\\netlogon\\a.bat /s",)
    assert found.executes
    junk = describe("Machine/Scripts/scripts.ini", b"[Logon]\nrm -rf /\n")
    assert junk.problems and junk.executes


def test_registry_preferences_are_listed() -> None:
    xml = b"""<RegistrySettings><Registry name="x"><Properties action="U" hive="HKEY_LOCAL_MACHINE"
      key="SOFTWARE\\Policies\\Microsoft\\Windows Defender" name="DisableAntiSpyware" value="1"/>
      </Registry></RegistrySettings>"""
    found = describe("Machine/Preferences/Registry/Registry.xml", xml)
    assert found.items == (
        "registry HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows Defender "
        "DisableAntiSpyware=1",
    )


def test_hostile_names_are_shown_escaped_and_bounded() -> None:
    assert raw("a\nb\x1b[31m") == "a\\nb\\x1b[31m"
    assert raw("x" * 500, 10) == "x" * 10 + "..."


def test_the_dns_domain_comes_from_the_base_dn() -> None:
    assert dns_domain("DC=lab, DC=test") == "lab.test"


def gpo(changed: str) -> Entry:
    return Entry(
        dn=f"CN={GUID},CN=Policies,CN=System,DC=lab,DC=test",
        attrs={
            "displayname": ("Workstation hardening",),
            "name": (GUID,),
            "whenchanged": (changed,),
        },
    )


def snap(*gpos: Entry) -> Snapshot:
    return Snapshot("DC=lab,DC=test", "S-1-5-21-1", datetime.now(UTC), (), gpos)


def folder(*files: SysvolFile) -> dict[str, GpoFolder]:
    return {GUID.upper(): GpoFolder(GUID, files)}


def tasks_file(modified: datetime = AFTER) -> SysvolFile:
    return SysvolFile(
        TASKS,
        "file",
        len(IMMEDIATE),
        modified,
        "ab" * 32,
        False,
        "",
        IMMEDIATE,
        describe(TASKS, IMMEDIATE),
    )


def test_a_changed_gpo_deploying_a_task_is_strong() -> None:
    found = analysis.check_gpos(snap(gpo("20261121000000.0Z")), INCIDENT, folder(tasks_file()))
    assert found.status is FindingStatus.FAIL and found.severity is Severity.STRONG
    assert "locker.exe" in found.detail and TASKS in found.detail


def test_a_changed_gpo_without_code_is_drift() -> None:
    found = analysis.check_gpos(snap(gpo("20261121000000.0Z")), INCIDENT, folder())
    assert found.status is FindingStatus.FAIL and found.severity is Severity.DRIFT


def test_sysvol_files_written_after_the_incident_are_found_even_if_the_gpo_is_not_changed() -> None:
    findings = {
        f.check: f
        for f in analysis.evaluate(
            snap(gpo("20261101000000.0Z")), INCIDENT, None, folder(tasks_file())
        )
    }
    assert findings["dir-gpo-changed"].status is FindingStatus.PASS
    assert findings["dir-sysvol"].status is FindingStatus.FAIL
    assert TASKS in findings["dir-sysvol"].detail


def test_links_truncations_and_unreadable_sysvol_are_never_clean() -> None:
    link = SysvolFile("Machine/shadow", "link", 11, BEFORE, target="/etc/shadow")
    big = SysvolFile("Machine/big.bin", "file", 5 << 20, BEFORE, "cd" * 32, True)
    found = analysis.check_sysvol(snap(gpo("20261101000000.0Z")), INCIDENT, folder(link, big), None)
    assert found.status is FindingStatus.FAIL
    assert any("link to /etc/shadow (not followed)" in e for e in found.evidence)
    assert any("read up to the cap only" in e for e in found.evidence)
    unread = analysis.check_sysvol(snap(), INCIDENT, None, "SMB refused")
    assert unread.status is FindingStatus.ERROR
    clean = analysis.check_sysvol(
        snap(gpo("20261101000000.0Z")), INCIDENT, folder(tasks_file(BEFORE)), None
    )
    assert clean.status is FindingStatus.PASS
