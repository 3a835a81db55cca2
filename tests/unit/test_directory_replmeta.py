"""Dating privileged-group membership by per-value replication metadata (the form a Windows
DC gives in msDS-ReplValueMetaData), and the fallback when a DC gives none (Samba, as the lab
test shows)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from restore.directory import analysis
from restore.directory.membership_dates import check_member_dates
from restore.directory.model import Entry, Snapshot
from restore.directory.replmeta import members_added_since, parse_value_metadata
from restore.models import FindingStatus, Severity

DOMAIN = "S-1-5-21-1-2-3"
BASE = "DC=lab,DC=test"
INCIDENT = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)


def stamp(
    dn: str, created: str, changed: str | None = None, deleted: str = "1601-01-01T00:00:00Z"
) -> str:
    return (
        "<DS_REPL_VALUE_META_DATA>\n\t<pszAttributeName>member</pszAttributeName>\n"
        f"\t<pszObjectDn>{dn}</pszObjectDn>\n\t<cbData>0</cbData>\n\t<pbData></pbData>\n"
        f"\t<ftimeDeleted>{deleted}</ftimeDeleted>\n\t<ftimeCreated>{created}</ftimeCreated>\n"
        f"\t<dwVersion>1</dwVersion>\n\t<ftimeLastOriginatingChange>{changed or created}"
        "</ftimeLastOriginatingChange>\n\t<uuidLastOriginatingDsaInvocationID>"
        "7f7aa9f0-d42d-49da-b82a-c925992d36e5</uuidLastOriginatingDsaInvocationID>\n"
        "\t<usnOriginatingChange>3877</usnOriginatingChange>\n"
        "</DS_REPL_VALUE_META_DATA>\n\x00"
    )


def entry(
    name: str,
    sid: str,
    classes: tuple[str, ...],
    changed: str = "20261101000000.0Z",
    **more: tuple[str, ...],
) -> Entry:
    attrs = {
        "objectclass": classes,
        "samaccountname": (name,),
        "objectsid": (sid,),
        "whencreated": ("20261101000000.0Z",),
        "whenchanged": (changed,),
        **{k.lower(): v for k, v in more.items()},
    }
    return Entry(dn=f"CN={name},CN=Users,{BASE}", attrs=attrs)


USER = ("top", "person", "organizationalPerson", "user")


def directory(admins_changed: str = "20261101000000.0Z") -> Snapshot:
    return Snapshot(
        BASE,
        DOMAIN,
        datetime.now(UTC),
        (
            entry("Administrator", f"{DOMAIN}-500", USER, primaryGroupID=("513",)),
            entry("svc-sync", f"{DOMAIN}-1200", USER, primaryGroupID=("513",)),
            entry("krbtgt", f"{DOMAIN}-502", USER, primaryGroupID=("513",)),
            entry(
                "Tier", f"{DOMAIN}-1201", ("top", "group"), member=(f"CN=svc-sync,CN=Users,{BASE}",)
            ),
            entry(
                "Domain Admins",
                f"{DOMAIN}-512",
                ("top", "group"),
                changed=admins_changed,
                member=(f"CN=Administrator,CN=Users,{BASE}", f"CN=Tier,CN=Users,{BASE}"),
            ),
        ),
    )


def admins(snapshot: Snapshot) -> str:
    return f"CN=Domain Admins,CN=Users,{BASE}".lower()


def test_a_value_stamp_is_read() -> None:
    found = parse_value_metadata(stamp("CN=x,DC=lab,DC=test", "2026-11-21T10:00:00Z"))
    assert found.value_dn == "CN=x,DC=lab,DC=test"
    assert found.created == datetime(2026, 11, 21, 10, tzinfo=UTC) and found.deleted is None


def test_added_after_removed_and_old_members_are_told_apart() -> None:
    added, problems = members_added_since(
        (
            stamp("CN=old", "2020-01-01T00:00:00Z"),
            stamp("CN=new", "2026-11-21T00:00:00Z"),
            stamp("CN=readded", "2020-01-01T00:00:00Z", "2026-11-22T00:00:00Z"),
            stamp("CN=removed", "2026-11-21T00:00:00Z", deleted="2026-11-21T01:00:00Z"),
            "<DS_REPL_VALUE_META_DATA><ftimeCreated>garbage",
        ),
        INCIDENT,
    )
    assert [dn for dn, _ in added] == ["CN=new", "CN=readded"]
    assert len(problems) == 1 and "not XML" in problems[0]


@pytest.mark.parametrize("bad", ["<!DOCTYPE x []><DS_REPL_VALUE_META_DATA/>", "<other/>"])
def test_odd_documents_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_value_metadata(bad)


def test_a_member_nested_in_after_the_incident_is_strong_without_a_baseline() -> None:
    snap = directory()
    tier = f"CN=Tier,CN=Users,{BASE}".lower()
    snap = replace(
        snap,
        value_meta={
            admins(snap): (
                stamp(f"CN=Administrator,CN=Users,{BASE}", "2020-01-01T00:00:00Z"),
                stamp(f"CN=Tier,CN=Users,{BASE}", "2020-01-01T00:00:00Z"),
            ),
            tier: (stamp(f"CN=svc-sync,CN=Users,{BASE}", "2026-11-21T03:04:05Z"),),
        },
    )
    found = check_member_dates(snap, INCIDENT)
    assert found is not None and found.status is FindingStatus.FAIL
    assert found.severity is Severity.STRONG
    assert (
        "Domain Admins (through Tier): CN=svc-sync,CN=Users,DC=lab,DC=test added 2026-11-21T03:04:05+00:00"
        in found.evidence
    )
    # and it is part of the directory checks
    assert "dir-privileged-added" in {f.check for f in analysis.evaluate(snap, INCIDENT, None)}


def test_old_members_only_pass() -> None:
    snap = directory(admins_changed="20261121000000.0Z")  # whenChanged moved: ambiguous
    snap = replace(
        snap,
        value_meta={
            admins(snap): (stamp(f"CN=Administrator,CN=Users,{BASE}", "2020-01-01T00:00:00Z"),)
        },
    )
    found = check_member_dates(snap, INCIDENT)
    assert found is not None and found.status is FindingStatus.PASS


def test_without_stamps_the_changed_groups_are_a_warning() -> None:
    snap = directory(admins_changed="20261121000000.0Z")
    found = check_member_dates(replace(snap, value_meta={admins(snap): ()}), INCIDENT)
    assert found is not None and found.status is FindingStatus.WARN
    assert "no per-value stamps" in found.detail and "Domain Admins" in found.detail
    assert check_member_dates(snap, INCIDENT) is None  # not read at all: nothing said
