"""The directory read on the wire (restore/directory/paging.py, ber.py) against a real Samba
AD DC of the lab: what it reads is what ldap3 reads, page after page; ranged values are
completed; the entry cap, a failed search and a passed deadline end the read cleanly and
leave the connection usable by ldap3 (nothing of an answer left on the socket)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ldap3 import BASE, SUBTREE, Connection

from restore.directory import fetch, paging
from restore.directory.ber import RawEntry
from restore.directory.connection import DirectoryError, LdapTarget, bind_credentials, connect
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.models import Platform

pytestmark = pytest.mark.lab

BASE_DN = "DC=lab,DC=test"
ADMINISTRATORS = f"CN=Administrators,CN=Builtin,{BASE_DN}"
Raw = dict[str, dict[str, list[bytes]]]


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connection]:
    state = tmp_path_factory.mktemp("dcread")
    try:
        inventory = Lab(state).up(
            [("dcread", Platform.LINUX)], roles={"dcread": "domain_controller"}
        )
        host = load_inventory(Path(inventory), with_secrets=True).host("dcread")
        user, password = bind_credentials(host)
        connection = connect(LdapTarget.for_host(host), user, password, 30)
        yield connection
        connection.unbind()
    finally:
        Lab(state).down()


def by_ldap3(conn: Connection, search_filter: str, attributes: tuple[str, ...]) -> Raw:
    """ldap3's own paged read: DN -> attribute (lower case) -> values as sent."""
    found: Raw = {}
    cookie = None
    while True:
        conn.search(
            BASE_DN, search_filter, search_scope=SUBTREE, attributes=list(attributes),
            paged_size=5, paged_cookie=cookie,
        )  # fmt: skip
        for item in conn.response or []:
            if item.get("type") == "searchResEntry":
                raw = item["raw_attributes"]
                found[item["dn"]] = {k.lower(): list(v) for k, v in raw.items() if v}
        controls = (conn.result or {}).get("controls", {})
        cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
        if not cookie:
            return found


def wire_search(
    conn: Connection,
    base: str,
    attributes: tuple[str, ...],
    page_size: int = paging.PAGE_SIZE,
    max_entries: int = 100_000,
) -> tuple[list[RawEntry], bool]:
    return paging.search(
        conn, base, fetch.ACCOUNT_FILTER, attributes, max_entries=max_entries,
        deadline=time.monotonic() + 60, build=lambda raw: raw, page_size=page_size,
    )  # fmt: skip


def test_the_wire_read_is_ldap3s_read_page_after_page(conn: Connection) -> None:
    found, truncated = wire_search(conn, BASE_DN, fetch.ACCOUNT_ATTRIBUTES, page_size=7)
    ours: Raw = {
        dn.decode(): {name.decode().lower(): values for name, values in pairs if values}
        for dn, pairs in found
    }
    assert not truncated
    assert len(ours) > 3 * 7  # several pages, each asked for before the last was decoded
    assert ours == by_ldap3(conn, fetch.ACCOUNT_FILTER, fetch.ACCOUNT_ATTRIBUTES)
    assert any("member" in attrs for attrs in ours.values())


def test_ranged_values_are_completed_as_ldap3s_auto_range_does(conn: Connection) -> None:
    # Samba sends `member` whole unless asked for a range; a Windows DC sends 1,500 at a
    # time: asking for the first value only makes Samba answer as Windows would
    [entry], truncated = fetch.paged(conn, ADMINISTRATORS, "(objectClass=*)", ("member;range=0-0",))
    conn.search(ADMINISTRATORS, "(objectClass=*)", search_scope=BASE, attributes=["member"])
    whole = [bytes(v).decode() for v in conn.response[0]["raw_attributes"]["member"]]
    assert not truncated and len(whole) >= 2
    assert entry.values("member") == tuple(whole)


def test_the_entry_cap_truncates_and_leaves_the_connection_clean(conn: Connection) -> None:
    found, truncated = wire_search(conn, BASE_DN, ("sAMAccountName",), page_size=3, max_entries=8)
    assert (len(found), truncated) == (8, True)
    assert conn.search(ADMINISTRATORS, "(objectClass=*)", search_scope=BASE)  # ldap3 again


def test_a_failed_search_is_a_directory_error_naming_the_result(conn: Connection) -> None:
    with pytest.raises(DirectoryError, match="noSuchObject"):
        wire_search(conn, f"OU=Nowhere,{BASE_DN}", ("sAMAccountName",))
    assert conn.search(ADMINISTRATORS, "(objectClass=*)", search_scope=BASE)


def test_a_read_past_its_deadline_stops(conn: Connection) -> None:
    with pytest.raises(DirectoryError, match="deadline"):
        paging.search(
            conn, BASE_DN, fetch.ACCOUNT_FILTER, ("sAMAccountName",),
            max_entries=10, deadline=time.monotonic() - 1, build=lambda raw: raw,
        )  # fmt: skip
    assert conn.search(ADMINISTRATORS, "(objectClass=*)", search_scope=BASE)
