"""The directory checks as pure functions: value parsers, nested privileged membership,
and each finding against a snapshot built by hand (the lab test proves them on Samba)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest

from restore.directory import analysis
from restore.directory.krbtgt import KrbtgtState, random_password, rotation_verdict
from restore.directory.model import (
    Entry,
    RunProof,
    Snapshot,
    parse_filetime,
    parse_generalized_time,
    sid_to_str,
)
from restore.directory.privileged import privileged_members
from restore.integrity.checks.verdict import aggregate
from restore.models import Finding, FindingStatus, Severity, Verdict

DOMAIN = "S-1-5-21-1-2-3"
BASE = "DC=lab,DC=test"
OLD = "20261101000000.0Z"
INCIDENT = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
AFTER = "20261121000000.0Z"


def filetime(when: datetime) -> str:
    return str(int((when - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000))


def user(name: str, rid: int, **attrs: object) -> Entry:
    values: dict[str, tuple[str, ...]] = {
        "objectclass": ("top", "person", "organizationalPerson", "user"),
        "samaccountname": (name,),
        "objectsid": (f"{DOMAIN}-{rid}",),
        "whencreated": (OLD,),
        "whenchanged": (OLD,),
        "primarygroupid": ("513",),
        "useraccountcontrol": ("512",),
    }
    for key, value in attrs.items():
        values[key.lower()] = tuple(value) if isinstance(value, list | tuple) else (str(value),)
    return Entry(dn=f"CN={name},CN=Users,{BASE}", attrs=values)


def group(name: str, sid: str, members: list[str] = ()) -> Entry:  # type: ignore[assignment]
    return Entry(
        dn=f"CN={name},CN=Users,{BASE}",
        attrs={
            "objectclass": ("top", "group"),
            "samaccountname": (name,),
            "objectsid": (sid,),
            "member": tuple(f"CN={m},CN=Users,{BASE}" for m in members),
            "whencreated": (OLD,),
            "whenchanged": (OLD,),
        },
    )


def krbtgt(kvno: int = 1, set_at: datetime = datetime(2026, 11, 1, tzinfo=UTC)) -> Entry:
    return user(
        "krbtgt",
        502,
        adminCount=1,
        servicePrincipalName="kadmin/changepw",
        **{"msDS-KeyVersionNumber": kvno, "pwdLastSet": filetime(set_at)},
    )


def snapshot(*entries: Entry, gpos: tuple[Entry, ...] = ()) -> Snapshot:
    base = (
        user("Administrator", 500, adminCount=1),
        group("Domain Admins", f"{DOMAIN}-512", ["Administrator"]),
        group("Administrators", "S-1-5-32-544", ["Domain Admins"]),
        group("Backup Operators", "S-1-5-32-551"),
        krbtgt(),
    )
    names = {e.name for e in entries}
    kept = tuple(e for e in base if e.name not in names)
    return Snapshot(BASE, DOMAIN, datetime.now(UTC), (*kept, *entries), gpos)


def by_check(snap: Snapshot, base: dict[str, object] | None, since: datetime | None = INCIDENT):
    return {f.check: f for f in analysis.evaluate(snap, since, base)}  # type: ignore[arg-type]


# -- value formats ------------------------------------------------------------------------------


def test_sid_parsing() -> None:
    raw = bytes([1, 4]) + (5).to_bytes(6, "big") + struct.pack("<4I", 21, 1, 2, 502)
    assert sid_to_str(raw) == "S-1-5-21-1-2-502"
    builtin = bytes([1, 2]) + (5).to_bytes(6, "big") + struct.pack("<2I", 32, 544)
    assert sid_to_str(builtin) == "S-1-5-32-544"
    with pytest.raises(ValueError):
        sid_to_str(raw[:-1])  # announces more sub-authorities than it carries
    with pytest.raises(ValueError):
        sid_to_str(b"\x01")


def test_times() -> None:
    assert parse_generalized_time("20261130072429.0Z") == datetime(
        2026, 11, 30, 7, 24, 29, tzinfo=UTC
    )
    # not ASCII digits (Arabic-Indic digits pass str.isdigit and int()), a bad month
    for bad in (
        "2026-11-30",
        "\u0662\u0660\u0662\u0666\u0661\u0661\u0663\u0660\u0660\u0667\u0662\u0664\u0662\u0669Z",
        "20261330072429.0Z",
    ):
        with pytest.raises(ValueError):
            parse_generalized_time(bad)
    when = datetime(2026, 11, 30, 7, 24, 29, 123456, tzinfo=UTC)
    assert parse_filetime(filetime(when)) - when < timedelta(milliseconds=1)  # type: ignore[operator]
    assert parse_filetime("0") is None  # "must change at next logon", never set
    with pytest.raises(ValueError):
        parse_filetime("-5")


# -- privileged groups --------------------------------------------------------------------------


def test_nested_and_primary_group_membership_resolved() -> None:
    snap = snapshot(
        group("Domain Admins", f"{DOMAIN}-512", ["Administrator", "Tier0"]),
        group("Tier0", f"{DOMAIN}-1200", ["eve", "Tier0b"]),
        group("Tier0b", f"{DOMAIN}-1201", ["mallory", "Tier0"]),  # a cycle must not loop
        user("eve", 1300),
        user("mallory", 1301),
        user("hidden", 1302, primaryGroupID=512),  # never listed in `member`
    )
    members = privileged_members(snap)
    assert members["Domain Admins"] == ["administrator", "eve", "hidden", "mallory"]
    # Administrators holds Domain Admins: everything above, through two levels
    assert members["Administrators"] == ["administrator", "eve", "hidden", "mallory"]


def test_groups_found_by_sid_not_name() -> None:
    french = group("Admins du domaine", f"{DOMAIN}-512", ["Administrator", "eve"])
    snap = snapshot(french, user("eve", 1300))
    snap = Snapshot(
        BASE, DOMAIN, snap.read_at, tuple(e for e in snap.entries if e.name != "Domain Admins")
    )
    assert privileged_members(snap)["Domain Admins"] == ["administrator", "eve"]


# -- findings -----------------------------------------------------------------------------------


def test_fresh_directory_against_its_baseline_after_two_rotations_is_clean() -> None:
    base = analysis.baseline_facts(snapshot())
    rotated = krbtgt(kvno=3, set_at=INCIDENT + timedelta(hours=2))
    results = by_check(snapshot(rotated), base)
    assert {f.status for f in results.values()} == {FindingStatus.PASS}
    assert aggregate(results.values()) is Verdict.CLEAN


def test_new_privileged_member_is_strong() -> None:
    base = analysis.baseline_facts(snapshot())
    snap = snapshot(
        group("Domain Admins", f"{DOMAIN}-512", ["Administrator", "svc-sync"]),
        user("svc-sync", 1400, whenCreated=AFTER),
    )
    results = by_check(snap, base)
    finding = results["dir-privileged-groups"]
    assert finding.status is FindingStatus.FAIL and finding.severity is Severity.STRONG
    assert "Domain Admins: svc-sync" in finding.evidence
    assert "svc-sync" in results["dir-accounts-created"].evidence
    assert aggregate(results.values()) is Verdict.COMPROMISED


def test_new_spn_on_a_user_but_not_on_computers() -> None:
    base = analysis.baseline_facts(snapshot())
    computer = user("WS01$", 1500, servicePrincipalName="HOST/ws01.lab.test")
    computer = Entry(computer.dn, {**computer.attrs, "objectclass": ("user", "computer")})
    snap = snapshot(user("alice", 1501, servicePrincipalName="MSSQLSvc/db:1433"), computer)
    spns = by_check(snap, base)["dir-spns"]
    assert spns.status is FindingStatus.FAIL
    assert spns.evidence == ("alice: MSSQLSvc/db:1433",)


def test_admin_count_outside_privileged_groups() -> None:
    snap = snapshot(user("former.admin", 1600, adminCount=1))
    finding = by_check(snap, analysis.baseline_facts(snapshot()))["dir-admincount"]
    assert finding.status is FindingStatus.FAIL and finding.evidence == ("former.admin",)


def test_unconstrained_delegation_on_a_non_dc() -> None:
    dc = user("DC01$", 1000, userAccountControl=0x2000 | 0x80000)
    app = user("app01$", 1700, userAccountControl=0x1000 | 0x80000)
    base = analysis.baseline_facts(snapshot(dc))
    finding = by_check(snapshot(dc, app), base)["dir-delegation"]
    assert finding.status is FindingStatus.FAIL
    assert finding.evidence == ("unconstrained: app01$",)


def test_gpo_changed_after_incident() -> None:
    gpo = Entry(
        f"CN={{X}},CN=Policies,CN=System,{BASE}",
        {"displayname": ("Workstation hardening",), "name": ("{X}",), "whenchanged": (AFTER,)},
    )
    finding = by_check(snapshot(gpos=(gpo,)), None)["dir-gpo-changed"]
    assert finding.status is FindingStatus.FAIL
    assert "Workstation hardening" in finding.detail


@pytest.mark.parametrize(
    ("kvno", "set_at", "baseline_kvno", "rotated", "words"),
    [
        (1, datetime(2026, 11, 1, tzinfo=UTC), 1, False, "not rotated since the incident"),
        (2, INCIDENT + timedelta(hours=1), 1, False, "moved by 1"),
        (3, INCIDENT + timedelta(hours=1), 1, True, "1 -> 3"),
        (3, INCIDENT + timedelta(hours=1), None, False, "cannot be proven"),
        # rotated twice, but both before the incident: the attacker may have the new key
        (3, INCIDENT - timedelta(hours=1), 1, False, "not rotated since the incident"),
    ],
)
def test_krbtgt_rule(
    kvno: int, set_at: datetime, baseline_kvno: int | None, rotated: bool, words: str
) -> None:
    ok, why = rotation_verdict(KrbtgtState("CN=krbtgt", kvno, set_at), INCIDENT, baseline_kvno)
    assert ok is rotated and words in why


def test_no_incident_time_never_clean() -> None:
    results = by_check(snapshot(), analysis.baseline_facts(snapshot()), since=None)
    assert results["dir-krbtgt"].status is FindingStatus.FAIL
    assert aggregate(results.values()) is Verdict.SUSPECT


def test_unreadable_value_is_an_error_not_clean() -> None:
    broken = user("eve", 1300, whenCreated="yesterday")
    results = analysis.evaluate(snapshot(broken), INCIDENT, None)
    assert any(f.check == "dir-read" and f.status is FindingStatus.ERROR for f in results)
    assert aggregate(results) is Verdict.SUSPECT


def test_baseline_of_another_domain_is_not_used() -> None:
    base = analysis.baseline_facts(snapshot()) | {"domain_sid": "S-1-5-21-9-9-9"}
    results = analysis.evaluate(snapshot(), INCIDENT, base)
    assert any(f.check == "dir-baseline" for f in results)


def test_random_passwords_differ_and_are_long() -> None:
    first, second = random_password(), random_password()
    assert first != second and len(first) == 64


def test_accounts_to_disable() -> None:
    from restore.directory.disable import accounts_to_disable

    base = analysis.baseline_facts(snapshot())
    snap = snapshot(
        group("Domain Admins", f"{DOMAIN}-512", ["Administrator", "old.admin.new"]),
        user("old.admin.new", 1800),  # old account, newly privileged
        user("fresh", 1801, whenCreated=AFTER),  # created after the incident
        user("fresh.disabled", 1802, whenCreated=AFTER, userAccountControl=514),
        user("DC02$", 1803, whenCreated=AFTER, userAccountControl=0x2000),
        user("bystander", 1804),
    )
    chosen = [e.name for e in accounts_to_disable(snap, INCIDENT, base)]
    assert chosen == ["fresh", "old.admin.new"]
    # never krbtgt or the built-in Administrator, even if they look new
    snap = snapshot(user("Administrator", 500, whenCreated=AFTER), krbtgt())
    assert accounts_to_disable(snap, INCIDENT, base) == []


# -- what the running restore proves (restore.execution.steps.run_proof) ----------------------


def run_checks(snap: Snapshot, run: RunProof | None) -> dict[str, Finding]:
    return {f.check: f for f in analysis.evaluate(snap, INCIDENT, None, run=run)}


def test_this_runs_rotation_proves_two_resets_without_a_baseline() -> None:
    rotated = snapshot(krbtgt(kvno=3, set_at=INCIDENT + timedelta(hours=2)))
    # without a baseline and without the run's record, "twice" cannot be proven
    assert run_checks(rotated, None)["dir-krbtgt"].status is FindingStatus.FAIL
    proven = run_checks(rotated, RunProof(krbtgt_rotated_from=1))["dir-krbtgt"]
    assert proven.status is FindingStatus.PASS
    assert "1 -> 3" in proven.detail and "by this run" in proven.detail
    # the run rotated once only (or someone reset it back in between): not proven, and the
    # message does not credit the run
    once = run_checks(rotated, RunProof(krbtgt_rotated_from=2))["dir-krbtgt"]
    assert once.status is FindingStatus.FAIL and "by this run" not in once.detail


def test_a_baseline_older_than_the_rotation_does_not_weaken_the_runs_proof() -> None:
    base = analysis.baseline_facts(snapshot())  # key version 1 before the incident
    # the attacker reset krbtgt once (2), the run rotated once from there (3): the baseline
    # alone would say "moved by 2", the run's record says it moved by one since it started
    snap = snapshot(krbtgt(kvno=3, set_at=INCIDENT + timedelta(hours=2)))
    results = {f.check: f for f in analysis.evaluate(snap, INCIDENT, base, run=RunProof(2))}
    assert results["dir-krbtgt"].status is FindingStatus.FAIL


def dc_account(name: str, rid: int, created: str) -> Entry:
    return user(name, rid, userAccountControl=0x2000 | 0x80000, whenCreated=created)


def test_a_dc_promoted_again_by_this_run_may_have_a_new_account_of_its_own_only() -> None:
    promoted = datetime(2026, 11, 21, tzinfo=UTC)
    run = RunProof(promoted_at=promoted, own_account="DC02$")
    own = dc_account("DC02$", 1100, "20261121000005.0Z")
    created = run_checks(snapshot(own), run)["dir-accounts-created"]
    assert created.status is FindingStatus.PASS and "DC02$" in created.detail
    # the same account outside a run that promoted it: created after the incident
    assert run_checks(snapshot(own), None)["dir-accounts-created"].status is FindingStatus.FAIL
    # another DC's account (a rogue DC), an account created before the promotion, a user
    # named like the DC: all still findings
    rogue = dc_account("DC09$", 1101, "20261121000005.0Z")
    early = dc_account("DC02$", 1100, "20261120120000.0Z")
    lookalike = user("DC02$", 1102, whenCreated="20261121000005.0Z")
    for entry in (rogue, early, lookalike):
        finding = run_checks(snapshot(entry), run)["dir-accounts-created"]
        assert finding.status is FindingStatus.FAIL, entry.name
        assert finding.evidence == (entry.name,)
