"""The hand-written decoder of search answers (restore/directory/ber.py) against ldap3's own
decoder on the same bytes, and against what a hostile DC may send: every malformed message
is a WireError (the read fails, the DC is suspect), never another exception or a guess.
The entries built from the raw form (fetch._Builder) match what ldap3's path gave."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3 import BASE, SUBTREE
from ldap3.operation.search import search_result_entry_response_to_dict_fast
from ldap3.utils.asn1 import decode_message_fast

from restore.directory import ber, fetch
from restore.directory.connection import DirectoryError
from tests.ldap_messages import SAMPLE, Attributes, done_message, entry_message, message, tlv


def decode(raw: bytes) -> tuple[int, ber.RawEntry]:
    message_id, op, start, stop = ber.envelope(raw)
    assert op == ber.ENTRY
    return message_id, ber.entry(raw, start, stop)


def ldap3_decode(raw: bytes) -> tuple[bytes, dict[str, list[bytes]]]:
    """ldap3's own decoding of the same bytes (the reference)."""
    tree = decode_message_fast(raw)
    found = search_result_entry_response_to_dict_fast(tree["payload"], None, None, False)
    return found["raw_dn"], {k: list(v or []) for k, v in found["raw_attributes"].items()}


def test_an_entry_decodes_as_ldap3_decodes_it() -> None:
    raw = entry_message(300, b"CN=alice,DC=lab,DC=test", SAMPLE)
    message_id, (dn, attributes) = decode(raw)
    assert message_id == 300
    assert (dn, attributes) == (b"CN=alice,DC=lab,DC=test", SAMPLE)
    reference_dn, reference = ldap3_decode(raw)
    assert reference_dn == dn
    assert reference == {name.decode(): values for name, values in attributes}


names = st.sampled_from([b"cn", b"member", b"objectSid", b"x" * 200, "é".encode()])
values = st.lists(st.binary(max_size=300), max_size=4)


@given(
    dn=st.binary(max_size=300),
    attributes=st.lists(st.tuples(names, values), max_size=6, unique_by=lambda p: p[0]),
    message_id=st.integers(min_value=1, max_value=2**31 - 1),
)
@settings(max_examples=200, deadline=None)
def test_any_entry_round_trips_and_agrees_with_ldap3(
    dn: bytes, attributes: Attributes, message_id: int
) -> None:
    raw = entry_message(message_id, dn, attributes)
    assert ber.message_size(raw, 0, len(raw)) == len(raw)
    assert decode(raw) == (message_id, (dn, attributes))
    reference_dn, reference = ldap3_decode(raw)
    assert reference_dn == dn
    assert {k.lower(): v for k, v in reference.items()} == {
        k.decode("utf-8").lower(): v for k, v in attributes
    }


def in_entry(*attributes: bytes) -> bytes:
    """A search result entry `dn` whose attribute list holds these bytes."""
    return message(1, tlv(0x64, tlv(0x04, b"dn"), tlv(0x30, *attributes)))


NAME_A = tlv(0x04, b"a")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\x30\x80" + b"\x02\x01\x01" + b"\x00\x00", "indefinite"),
        (b"\x30\x85\x00\x00\x00\x00\x05" + b"\x02\x01\x01\x64\x00", "overlong"),
        (in_entry(b"\x30\x09\x04\x01a"), "malformed attribute in"),  # longer than its list
        (in_entry(b"\x30\x04\x04\x02a"), "malformed attribute in"),
        (in_entry(tlv(0x30, NAME_A, tlv(0x04, b"v"))), "attribute values"),  # no SET
        (in_entry(tlv(0x30, NAME_A, tlv(0x31, tlv(0x02, b"v")))), "malformed value"),
        (in_entry(tlv(0x30, NAME_A, tlv(0x31), b"\x04\x00")), "attribute values"),
        (in_entry(tlv(0x30, tlv(0x02, b"a"), tlv(0x31))), "attribute type"),
        (in_entry(b"\x30"), "truncated"),  # a header cut at the end of the message
        (message(1, tlv(0x64, tlv(0x02, b"dn"), tlv(0x30))), "0x04 expected"),
        (in_entry() + b"\x00", "after the LDAP message"),
        (tlv(0x30, tlv(0x02, b"\x00" * 5), tlv(0x64)), "integer of 5"),
        (tlv(0x30, tlv(0x02, b"\x01")), "without an operation"),
    ],
)
def test_malformed_entries_are_refused_by_name(raw: bytes, why: str) -> None:
    with pytest.raises(ber.WireError, match=why):
        _, _, start, stop = ber.envelope(raw)
        ber.entry(raw, start, stop)


def test_framing_waits_for_the_header_then_sizes_the_message() -> None:
    raw = entry_message(9, b"CN=a", SAMPLE)
    assert ber.message_size(raw[:1], 0, 1) is None
    assert ber.message_size(raw[:3], 0, 3) is None  # 0x30 0x83 and one of three length bytes
    assert ber.message_size(raw + b"\x30", 0, len(raw) + 1) == len(raw)
    with pytest.raises(ber.WireError, match="not an LDAP message"):
        ber.message_size(b"\x31\x00", 0, 2)


@pytest.mark.parametrize(
    ("cookie", "expected"), [(b"\x01\x02next", b"\x01\x02next"), (b"", b""), (None, b"")]
)
def test_a_search_done_gives_code_message_and_paged_cookie(
    cookie: bytes | None, expected: bytes
) -> None:
    raw = done_message(32, b"no such object", cookie)
    message_id, op, start, stop = ber.envelope(raw)
    assert (message_id, op) == (7, ber.DONE)
    assert ber.done(raw, start, stop) == ber.Done(32, "no such object", expected)


def test_requests_are_encoded_as_rfc4511_and_2696_say() -> None:
    raw = ber.search_request(
        42, "DC=lab,DC=test", "(|(objectClass=user)(objectClass=group))",
        ("sAMAccountName", "member"), SUBTREE, 1000, b"\x00cookie",
    )  # fmt: skip
    equal = [tlv(0xA3, tlv(0x04, b"objectClass"), tlv(0x04, v)) for v in (b"user", b"group")]
    request = tlv(
        0x63,
        tlv(0x04, b"DC=lab,DC=test"),
        tlv(0x0A, b"\x02"),  # wholeSubtree
        tlv(0x0A, b"\x00"),  # neverDerefAliases, as ldapsearch
        tlv(0x02, b"\x00"),  # no size limit (the cap is this side's)
        tlv(0x02, b"\x00"),  # no time limit (the deadline is this side's)
        tlv(0x01, b"\x00"),  # typesOnly FALSE
        tlv(0xA1, *equal),  # or
        tlv(0x30, tlv(0x04, b"sAMAccountName"), tlv(0x04, b"member")),
    )
    paged = tlv(0x30, tlv(0x02, b"\x03\xe8"), tlv(0x04, b"\x00cookie"))
    control = tlv(0x30, tlv(0x04, ber.PAGED_RESULTS), tlv(0x04, paged))  # not critical
    assert raw == message(42, request, tlv(0xA0, control))
    base = ber.search_request(43, "CN=g", "(objectClass=*)", ("member;range=2-*",), BASE)
    message_id, op, start, stop = ber.envelope(base)
    assert (message_id, op) == (43, 0x63)
    assert base[start:].startswith(tlv(0x04, b"CN=g") + tlv(0x0A, b"\x00"))  # baseObject
    assert stop == len(base)  # no controls: one answer, not paged


# --- entries built from the raw form -----------------------------------------------------

REQUESTED = ("objectClass", "objectSid", "member", "msDS-AllowedToActOnBehalfOfOtherIdentity")
SID = struct.pack("<BB6s5I", 1, 5, (5).to_bytes(6, "big"), 21, 1, 2, 3, 502)


def build(dn: bytes, attributes: Attributes) -> tuple[object, dict[str, int]]:
    return fetch._Builder(REQUESTED)((dn, attributes))


def test_built_entries_have_every_requested_attribute_and_text_values() -> None:
    descriptor = b"\x01\x00\x04\x80" + b"\x00" * 16
    entry, ranged = build(
        b"CN=krbtgt,CN=Users,DC=lab,DC=test",
        [
            (b"objectclass", [b"top", b"user"]),
            (b"objectSid", [SID]),
            (b"msDS-AllowedToActOnBehalfOfOtherIdentity", [descriptor]),
            (b"description", [b"\xff\xfe" + "é".encode() + b"x" * 20_000]),
        ],
    )
    assert ranged == {}
    assert entry.dn == "CN=krbtgt,CN=Users,DC=lab,DC=test"  # type: ignore[attr-defined]
    attrs = dict(entry.attrs)  # type: ignore[attr-defined]
    assert attrs["objectclass"] == ("top", "user")
    assert attrs["objectsid"] == ("S-1-5-21-1-2-3-502",)
    digest = hashlib.sha256(descriptor).hexdigest()[:16]
    assert attrs["msds-allowedtoactonbehalfofotheridentity"] == (f"<20 bytes sha256:{digest}>",)
    assert attrs["member"] == ()  # requested, not sent: present and empty, as ldap3 gave
    text = attrs["description"][0]
    assert len(text) == fetch.MAX_VALUE_CHARS and text.startswith("\ufffd\ufffdé")


def test_a_dn_that_is_not_utf8_is_read_as_latin1_as_ldap3_did() -> None:
    entry, _ = build("CN=José".encode("latin-1"), [])
    assert entry.dn == "CN=José"  # type: ignore[attr-defined]


def test_ranged_values_are_appended_and_their_end_remembered() -> None:
    entry, ranged = build(
        b"CN=big",
        [(b"member;range=0-1", [b"CN=a", b"CN=b"]), (b"objectClass", [b"group"])],
    )
    assert entry.attrs["member"] == ("CN=a", "CN=b")  # type: ignore[attr-defined]
    assert ranged == {"member": 1}
    entry, ranged = build(b"CN=small", [(b"member;range=0-*", [b"CN=a"])])
    assert entry.attrs["member"] == ("CN=a",) and ranged == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", [b"member;range=a-5", b"member;range=0-", b"member;range=-*"])
def test_an_unreadable_range_is_an_error(name: bytes) -> None:
    with pytest.raises(DirectoryError, match="unreadable ranged attribute"):
        build(b"CN=big", [(name, [b"CN=a"])])
