"""The LDAP messages of a paged search, encoded with ldap3 and decoded here by hand.

ldap3 decodes each answer into a generic BER tree, then into two case-insensitive dicts (text
and raw) per entry: for 12,000 entries that cost more CPU than the DC spent finding them.
Here a search result entry goes from the received bytes straight to its DN and its
(attribute, values) pairs. The DC may be the attacker's: every length is checked against its
container, and an indefinite length, an unexpected tag or trailing bytes is a WireError
(the read fails, the DC is `suspect`), never a guess. Requests are few and small: ldap3
builds them exactly as its own search would (RFC 4511 §4.5.1, RFC 2696 paged results).
"""

from __future__ import annotations

from dataclasses import dataclass

from ldap3 import DEREF_NEVER
from ldap3.operation.search import search_operation
from ldap3.protocol.convert import build_controls_list
from ldap3.protocol.rfc2696 import paged_search_control
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.utils.asn1 import encode

from restore.directory.connection import DirectoryError

PAGED_RESULTS = b"1.2.840.113556.1.4.319"
# protocol operations of an answer to a search (RFC 4511 §4.2: [APPLICATION n], constructed)
ENTRY, DONE, REFERENCE, EXTENDED, INTERMEDIATE = 0x64, 0x65, 0x73, 0x78, 0x79
_SEQUENCE, _SET, _OCTETS, _INTEGER, _ENUMERATED, _CONTROLS = 0x30, 0x31, 0x04, 0x02, 0x0A, 0xA0

RawEntry = tuple[bytes, list[tuple[bytes, list[bytes]]]]


class WireError(DirectoryError):
    """An answer that is not well-formed BER of the expected shape."""


@dataclass(frozen=True)
class Done:
    """A search's end: its result code, the DC's message, and the paged-results cookie."""

    code: int
    message: str
    cookie: bytes


def search_request(
    message_id: int,
    base: str,
    search_filter: str,
    attributes: tuple[str, ...],
    scope: int,
    page_size: int | None = None,
    cookie: bytes = b"",
) -> bytes:
    request = search_operation(
        base, search_filter, scope, DEREF_NEVER, list(attributes), 0, 0, False, True, True
    )
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("searchRequest", request)
    if page_size is not None:
        message["controls"] = build_controls_list(
            [paged_search_control(False, page_size, cookie or None)]
        )
    return bytes(encode(message))


def _length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """The length at `pos` and where its contents start; they must end by `end`."""
    if pos >= end:
        raise WireError("truncated BER element")
    first = data[pos]
    if first < 0x80:
        length, pos = first, pos + 1
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + 1 + count > end:
            raise WireError("indefinite or overlong BER length")  # RFC 4511 §5.1: definite only
        length = int.from_bytes(data[pos + 1 : pos + 1 + count], "big")
        pos += 1 + count
    if pos + length > end:
        raise WireError("BER length overruns its container")
    return length, pos


def _open(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    """(contents start, contents end) of the element at `pos`, which must carry `tag`."""
    if pos >= end or data[pos] != tag:
        found = f"0x{data[pos]:02x}" if pos < end else "nothing"
        raise WireError(f"BER tag 0x{tag:02x} expected, {found} found")
    length, pos = _length(data, pos + 1, end)
    return pos, pos + length


def _integer(data: bytes, pos: int, end: int, tag: int = _INTEGER) -> tuple[int, int]:
    start, stop = _open(data, pos, end, tag)
    if not 1 <= stop - start <= 4:
        raise WireError(f"BER integer of {stop - start} bytes")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def message_size(data: bytes | bytearray, start: int, end: int) -> int | None:
    """Bytes of the whole message starting at `start`, or None while its header is short."""
    if end - start < 2:
        return None
    if data[start] != _SEQUENCE:
        raise WireError(f"not an LDAP message (tag 0x{data[start]:02x})")
    first = data[start + 1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4:
        raise WireError("indefinite or overlong BER length")
    if end - start < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[start + 2 : start + 2 + count], "big")


def envelope(message: bytes) -> tuple[int, int, int, int]:
    """(message ID, operation tag, start and end of the operation's contents)."""
    end = len(message)
    start, stop = _open(message, 0, end, _SEQUENCE)
    if stop != end:
        raise WireError("bytes after the LDAP message")
    message_id, pos = _integer(message, start, end)
    if pos >= end:
        raise WireError("LDAP message without an operation")
    op = message[pos]
    length, pos = _length(message, pos + 1, end)
    return message_id, op, pos, pos + length


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """A long-form length at `pos` (its first byte >= 0x80): (length, contents start)."""
    count = data[pos] & 0x7F
    if count == 0 or count > 4:
        raise WireError("indefinite or overlong BER length")  # RFC 4511 §5.1: definite only
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def entry(message: bytes, pos: int, end: int) -> RawEntry:
    """A SearchResultEntry's DN and its (attribute, values), all as sent.

    The hot loop of a directory read (a few hundred thousand elements), so the element
    headers are read inline: each element's end is checked against its container's, and a
    header cut short raises IndexError, turned into a WireError."""
    try:
        return _entry(message, pos, end)
    except IndexError:
        raise WireError("truncated BER element") from None


def _entry(message: bytes, pos: int, end: int) -> RawEntry:
    start, stop = _open(message, pos, end, _OCTETS)
    dn = message[start:stop]
    pos, end = _open(message, stop, end, _SEQUENCE)
    attributes: list[tuple[bytes, list[bytes]]] = []
    while pos < end:
        # PartialAttribute ::= SEQUENCE { type OCTET STRING, vals SET OF OCTET STRING }
        tag, length = message[pos], message[pos + 1]
        pos, length = (pos + 2, length) if length < 0x80 else _long(message, pos + 1)[::-1]
        attribute_end = pos + length
        if tag != _SEQUENCE or attribute_end > end:
            raise WireError("malformed attribute in a search result entry")
        tag, length = message[pos], message[pos + 1]
        start, length = (pos + 2, length) if length < 0x80 else _long(message, pos + 1)[::-1]
        pos = start + length
        if tag != _OCTETS or pos > attribute_end:
            raise WireError("malformed attribute type in a search result entry")
        name = message[start:pos]
        tag, length = message[pos], message[pos + 1]
        pos, length = (pos + 2, length) if length < 0x80 else _long(message, pos + 1)[::-1]
        if tag != _SET or pos + length != attribute_end:
            raise WireError("malformed attribute values in a search result entry")
        values = []
        while pos < attribute_end:
            length = message[pos + 1]
            if length < 0x80:
                start = pos + 2
            else:
                length, start = _long(message, pos + 1)
            if message[pos] != _OCTETS or start + length > attribute_end:
                raise WireError("malformed value in a search result entry")
            pos = start + length
            values.append(message[start:pos])
        attributes.append((name, values))
    return dn, attributes


def done(message: bytes, pos: int, end: int) -> Done:
    """A SearchResultDone: its LDAPResult, and the paged-results cookie from the controls
    that follow the operation (empty when the search is complete)."""
    code, pos = _integer(message, pos, end, _ENUMERATED)
    pos = _open(message, pos, end, _OCTETS)[1]  # matchedDN
    start, pos = _open(message, pos, end, _OCTETS)  # diagnosticMessage
    text = message[start:pos].decode("utf-8", "replace")
    return Done(code=code, message=text, cookie=_paged_cookie(message, end))


def _paged_cookie(message: bytes, pos: int) -> bytes:
    end = len(message)
    if pos == end:
        return b""
    pos, end = _open(message, pos, end, _CONTROLS)
    while pos < end:
        pos, control_end = _open(message, pos, end, _SEQUENCE)
        start, pos = _open(message, pos, control_end, _OCTETS)
        if message[start:pos] != PAGED_RESULTS:
            pos = control_end
            continue
        if pos < control_end and message[pos] == 0x01:  # criticality
            pos = _open(message, pos, control_end, 0x01)[1]
        start, stop = _open(message, pos, control_end, _OCTETS)
        value_pos, value_end = _open(message, start, stop, _SEQUENCE)
        _, value_pos = _integer(message, value_pos, value_end)  # the DC's size estimate
        start, stop = _open(message, value_pos, value_end, _OCTETS)
        return message[start:stop]
    return b""
