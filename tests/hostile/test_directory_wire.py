"""A hostile domain controller on the wire: the directory read (restore/directory/paging.py,
ber.py) is bounded on the control node whatever the DC sends.

The DC here is a script on the other end of a real socket pair, answering each search
request as a compromised DC could: a message announcing 100 MiB, more bytes than the read's
cap, pages without end, an answer to a request never made, a disconnection notice, silence,
damaged BER, or value ranges that never end or do not follow on. Each must end as a DirectoryError (the DC is then `suspect`) or a truncation
flag (a finding), within the read's caps and deadline; never another exception, never a hang.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restore.directory import ber, fetch, paging
from restore.directory.connection import DirectoryError
from tests.ldap_messages import SAMPLE, done_message, entry_message, message, tlv

Answer = Callable[[int, int], bytes]  # (message ID, how many requests so far) -> bytes


@dataclass
class FakeServer:
    @staticmethod
    def next_message_id() -> int:
        return 5


@dataclass
class FakeConnection:
    """What paging needs of an ldap3 connection: its socket and its receive timeout."""

    socket: socket.socket
    receive_timeout: float = 5.0
    server: FakeServer = field(default_factory=FakeServer)


@pytest.fixture
def dc() -> Iterator[Callable[[Answer], FakeConnection]]:
    """A scripted DC: answers each search request on its end of a socket pair."""
    ends: list[socket.socket] = []

    def start(answer: Answer, hang_up: bool = False) -> FakeConnection:
        ours, theirs = socket.socketpair()
        ends.extend((ours, theirs))

        def serve() -> None:
            buffer, asked = b"", 0
            try:
                while True:
                    size = ber.message_size(buffer, 0, len(buffer))
                    if size is None or len(buffer) < size:
                        chunk = theirs.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                        continue
                    request, buffer = buffer[:size], buffer[size:]
                    asked += 1
                    theirs.sendall(answer(ber.envelope(request)[0], asked))
                    if hang_up:
                        theirs.shutdown(socket.SHUT_RDWR)
                        return
            except OSError:
                return  # the reader gave up and closed its end

        threading.Thread(target=serve, daemon=True).start()
        return FakeConnection(ours)

    yield start
    for end in ends:
        end.close()


def page(message_id: int, count: int, cookie: bytes) -> bytes:
    entries = b"".join(
        entry_message(message_id, f"CN=u{i}".encode(), SAMPLE[:2]) for i in range(count)
    )
    return entries + done_message(0, b"", cookie, message_id)


def read(conn: FakeConnection, deadline_s: float = 30.0, cap: int = 1000) -> tuple[int, bool]:
    found, truncated = paging.search(
        conn, "DC=lab,DC=test", "(objectClass=user)", ("sAMAccountName",),
        max_entries=cap, deadline=time.monotonic() + deadline_s, build=lambda raw: raw,
    )  # fmt: skip
    return len(found), truncated


def test_a_well_behaved_dc_is_read_to_the_end(dc: Callable[[Answer], FakeConnection]) -> None:
    conn = dc(lambda mid, n: page(mid, 3, b"more" if n < 4 else b""))
    assert read(conn) == (12, False)


def test_pages_without_end_stop_at_the_entry_cap(dc: Callable[[Answer], FakeConnection]) -> None:
    conn = dc(lambda mid, n: page(mid, 3, b"always more"))
    assert read(conn, cap=10) == (10, True)


def test_empty_pages_without_end_stop_at_the_deadline(
    dc: Callable[[Answer], FakeConnection],
) -> None:
    conn = dc(lambda mid, n: page(mid, 0, b"always more"))
    with pytest.raises(DirectoryError, match="deadline"):
        read(conn, deadline_s=0.5)


def test_a_huge_message_is_refused_before_it_is_read(
    dc: Callable[[Answer], FakeConnection],
) -> None:
    conn = dc(lambda mid, n: b"\x30\x84\x06\x40\x00\x00")  # announces 100 MiB, sends nothing
    with pytest.raises(DirectoryError, match="message of 104857606 bytes"):
        read(conn)


def test_more_bytes_than_the_read_cap_are_refused(
    dc: Callable[[Answer], FakeConnection], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "MAX_READ_BYTES", 64 * 1024)
    conn = dc(lambda mid, n: page(mid, 400, b"more"))
    with pytest.raises(DirectoryError, match="more than 65536 bytes"):
        read(conn)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda mid, n: page(mid + 1, 1, b""), "answer to message 6, not asked for"),
        (lambda mid, n: message(0, tlv(0x78, tlv(0x0A, b"\x34"))), "ended the session"),
        (lambda mid, n: message(mid, tlv(0x61, tlv(0x0A, b"\x00"))), "operation 0x61"),
        (lambda mid, n: b"\x31\x00", "not an LDAP message"),
        (lambda mid, n: b"\x30\x80\x00\x00", "indefinite"),
        (lambda mid, n: done_message(50, b"no", None, mid), "insufficientAccessRights no"),
    ],
)
def test_a_dc_that_breaks_the_protocol_is_a_directory_error(
    dc: Callable[[Answer], FakeConnection], answer: Answer, why: str
) -> None:
    with pytest.raises(DirectoryError, match=why):
        read(dc(answer))


def test_a_dc_that_hangs_up_mid_answer_is_a_directory_error(
    dc: Callable[..., FakeConnection],
) -> None:
    conn = dc(lambda mid, n: entry_message(mid, b"CN=u", SAMPLE)[:40], hang_up=True)
    with pytest.raises(DirectoryError, match="closed the connection"):
        read(conn)


def test_a_silent_dc_is_a_directory_error(dc: Callable[[Answer], FakeConnection]) -> None:
    conn = dc(lambda mid, n: b"")
    conn.receive_timeout = 0.2
    with pytest.raises(DirectoryError, match="did not answer in time"):
        read(conn)


@given(cut=st.integers(min_value=0), flip=st.integers(min_value=0), byte=st.integers(0, 255))
@settings(max_examples=400, deadline=None)
def test_a_damaged_message_is_a_wire_error_never_another_exception(
    cut: int, flip: int, byte: int
) -> None:
    good = entry_message(5, b"CN=alice,DC=lab,DC=test", SAMPLE[:3])
    damaged = bytearray(good[: cut % (len(good) + 1)])
    if damaged:
        damaged[flip % len(damaged)] = byte
    raw = bytes(damaged)
    try:
        size = ber.message_size(raw, 0, len(raw))
        if size is None or size != len(raw):
            return  # framing waits for more bytes, or takes only the message's own
        _, op, start, stop = ber.envelope(raw)
        if op == ber.ENTRY:
            ber.entry(raw, start, stop)
        elif op == ber.DONE:
            ber.done(raw, start, stop)
    except ber.WireError:
        pass


def ranged(message_id: int, name: bytes, values: list[bytes]) -> bytes:
    """One group whose `member` comes as the range `name`, and the search's end."""
    group = entry_message(message_id, b"CN=big", [(b"objectClass", [b"group"]), (name, values)])
    return group + done_message(0, b"", None, message_id)


def members(conn: FakeConnection) -> tuple[str, ...]:
    [entry], _ = fetch.paged(conn, "CN=big", "(objectClass=*)", ("member",))
    return entry.values("member")


def test_ranged_values_are_asked_for_until_the_last_range(
    dc: Callable[[Answer], FakeConnection],
) -> None:
    script = {
        1: (b"member;range=0-1", [b"CN=a", b"CN=b"]),
        2: (b"member;range=2-3", [b"CN=c", b"CN=d"]),
        3: (b"member;range=4-*", [b"CN=e"]),
    }
    conn = dc(lambda mid, n: ranged(mid, *script[n]))
    assert members(conn) == ("CN=a", "CN=b", "CN=c", "CN=d", "CN=e")


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ((b"member;range=2-1", [b"CN=c"]), "do not move on"),
        ((b"member;range=2-9", []), "do not move on"),
        ((b"member;range=7-*", [b"CN=c"]), "no range 2- of member"),
        ((b"member;range=2-x", [b"CN=c"]), "unreadable ranged attribute"),
    ],
)
def test_ranges_that_do_not_follow_on_are_a_directory_error(
    dc: Callable[[Answer], FakeConnection], second: tuple[bytes, list[bytes]], why: str
) -> None:
    first = (b"member;range=0-1", [b"CN=a", b"CN=b"])
    conn = dc(lambda mid, n: ranged(mid, *(first if n == 1 else second)))
    with pytest.raises(DirectoryError, match=why):
        members(conn)


def test_ranges_without_end_stop_at_the_value_cap(
    dc: Callable[[Answer], FakeConnection], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "MAX_ENTRIES", 50)

    def endless(mid: int, n: int) -> bytes:
        low = (n - 1) * 10
        return ranged(mid, f"member;range={low}-{low + 9}".encode(), [b"CN=m"] * 10)

    with pytest.raises(DirectoryError, match="more than 50 values of member"):
        members(dc(endless))
