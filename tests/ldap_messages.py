"""LDAP answers built byte by byte (BER, RFC 4511), for the tests of the directory read."""

from __future__ import annotations

from restore.directory import ber

Attributes = list[tuple[bytes, list[bytes]]]


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, *parts: bytes) -> bytes:
    content = b"".join(parts)
    return bytes([tag]) + length(len(content)) + content


def message(message_id: int, op: bytes, controls: bytes = b"") -> bytes:
    number = message_id.to_bytes((message_id.bit_length() + 8) // 8, "big", signed=True)
    return tlv(0x30, tlv(0x02, number), op, controls)


def entry_message(message_id: int, dn: bytes, attributes: Attributes) -> bytes:
    pairs = [
        tlv(0x30, tlv(0x04, name), tlv(0x31, *(tlv(0x04, v) for v in values)))
        for name, values in attributes
    ]
    return message(message_id, tlv(0x64, tlv(0x04, dn), tlv(0x30, *pairs)))


def done_message(code: int, text: bytes, cookie: bytes | None, message_id: int = 7) -> bytes:
    result = tlv(0x65, tlv(0x0A, bytes([code])), tlv(0x04, b""), tlv(0x04, text))
    controls = b""
    if cookie is not None:
        other = tlv(0x30, tlv(0x04, b"1.2.3.4"), tlv(0x01, b"\xff"), tlv(0x04, b"x"))
        value = tlv(0x30, tlv(0x02, b"\x00"), tlv(0x04, cookie))
        paged = tlv(0x30, tlv(0x04, ber.PAGED_RESULTS), tlv(0x04, value))
        controls = tlv(0xA0, other, paged)
    return message(message_id, result, controls)


SAMPLE: Attributes = [
    (b"objectClass", [b"top", b"person", b"user"]),
    (b"sAMAccountName", [b"alice"]),
    (b"member", [b"CN=x" * 40, b"CN=y" * 100]),  # 160 and 400 bytes: long-form lengths
    (b"adminCount", []),
    (b"servicePrincipalName", [b"HTTP/" + b"a" * 70_000]),  # three length bytes
]
