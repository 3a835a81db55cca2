"""Searches on a bound connection's socket, paged and pipelined, bounded on this side.

Why not ldap3's own paged search: it asks for page n+1 only after page n is decoded, so
the DC waits while this side decodes, then this side waits while the DC works. Here a
page's messages are only framed (their lengths read) when they arrive; the next page is
asked for at once, and the page is decoded while the DC prepares the next one. The DC may
be the attacker's (DESIGN §9): every message is capped in size, the whole read in bytes,
and every receive has both the connection's timeout and the read's one deadline.

The socket is the one ldap3 opened, bound and verified (connection.py); ldap3 is not used
on it while a search here runs, and every answer is read to its end before returning, so
ldap3 finds the connection as it left it.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

from ldap3 import SUBTREE, Connection
from ldap3.core.results import RESULT_CODES

from restore.directory import ber
from restore.directory.connection import DirectoryError

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one entry: a group of a million members fits
MAX_READ_BYTES = 1024 * 1024 * 1024  # one search
RECEIVE_CHUNK = 256 * 1024
PAGE_SIZE = 1000  # a Windows DC's MaxPageSize: it sends no more per page

T = TypeVar("T")


class Wire:
    """Whole LDAP messages from the connection's socket, within the caps and deadline."""

    def __init__(self, conn: Connection, deadline: float) -> None:
        self.conn = conn
        self.sock: socket.socket = conn.socket
        self.deadline = deadline
        self.timeout = float(conn.receive_timeout or 60)
        self.buffer = bytearray()
        self.read = 0  # bytes received by this Wire

    def send(self, data: bytes) -> None:
        self._io(lambda: self.sock.sendall(data))

    def next_message(self) -> bytes:
        while True:
            size = ber.message_size(self.buffer, 0, len(self.buffer))
            if size is not None and size > MAX_MESSAGE_BYTES:
                raise DirectoryError(f"the DC sent an LDAP message of {size} bytes (cap)")
            if size is not None and len(self.buffer) >= size:
                message = bytes(self.buffer[:size])
                del self.buffer[:size]
                return message
            chunk = self._io(lambda: self.sock.recv(RECEIVE_CHUNK))
            if not chunk:
                raise DirectoryError("the DC closed the connection during a search")
            self.read += len(chunk)
            if self.read > MAX_READ_BYTES:
                raise DirectoryError(f"the DC sent more than {MAX_READ_BYTES} bytes (cap)")
            self.buffer += chunk

    def _io(self, action: Callable[[], T]) -> T:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DirectoryError("the directory read passed its deadline")
        self.sock.settimeout(min(self.timeout, left))
        try:
            return action()
        except TimeoutError:
            raise DirectoryError("the DC did not answer in time") from None
        except (OSError, ssl.SSLError) as exc:
            raise DirectoryError(f"LDAPS connection lost: {exc}") from None
        finally:
            self.sock.settimeout(self.timeout)


Framed = tuple[bytes, int, int]  # a message, and where its operation's contents lie


def _page(wire: Wire, message_id: int) -> tuple[list[Framed], ber.Done]:
    """One page's entries, framed not decoded, and its end."""
    entries: list[Framed] = []
    while True:
        message = wire.next_message()
        answer_to, op, start, stop = ber.envelope(message)
        if answer_to != message_id:
            if answer_to == 0:  # RFC 4511 §4.4: an unsolicited notice, e.g. disconnection
                raise DirectoryError("the DC ended the session during a search")
            raise ber.WireError(f"an answer to message {answer_to}, not asked for")
        if op == ber.ENTRY:
            entries.append((message, start, stop))
        elif op == ber.DONE:
            return entries, ber.done(message, start, stop)
        elif op not in (ber.REFERENCE, ber.INTERMEDIATE):  # referrals to other partitions
            raise ber.WireError(f"operation 0x{op:02x} in the answer to a search")


def search(
    conn: Connection,
    base: str,
    search_filter: str,
    attributes: tuple[str, ...],
    *,
    max_entries: int,
    deadline: float,
    build: Callable[[ber.RawEntry], T],
    scope: int = SUBTREE,
    page_size: int | None = PAGE_SIZE,
) -> tuple[list[T], bool]:
    """Each entry found (at most `max_entries`) made by `build` from its raw form, while the
    DC prepares the next page; and whether the DC had more. `page_size` None: one request,
    no paging (a base search)."""
    wire = Wire(conn, deadline)

    def ask(cookie: bytes) -> int:
        message_id = int(conn.server.next_message_id())
        request = ber.search_request(
            message_id, base, search_filter, attributes, scope, page_size, cookie
        )
        wire.send(request)
        return message_id

    found: list[T] = []
    message_id = ask(b"")
    while True:
        page, end = _page(wire, message_id)
        if end.code != 0:
            name = RESULT_CODES.get(end.code, str(end.code))
            raise DirectoryError(f"LDAP search {search_filter} failed: {name} {end.message}")
        more = page_size is not None and bool(end.cookie) and len(found) + len(page) < max_entries
        if more:
            message_id = ask(end.cookie)  # the DC prepares it while this page is decoded
        for message, start, stop in page:
            found.append(build(ber.entry(message, start, stop)))
            if len(found) >= max_entries:
                return found, True
        if not more:
            return found, False
