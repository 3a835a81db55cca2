"""Byte caps applied on the control node to whatever a host sends.

A compromised host decides how much it sends: a replaced ``head`` or ``cat`` can stream
hundreds of megabytes. Every transport feeds the bytes it receives through a ``Capped``
sink, so memory (or the evidence file on disk) never holds more than the cap, and the
caller learns that the output was cut (``truncated``), which the checks turn into a finding.
"""

from __future__ import annotations

from typing import BinaryIO

# Far above what any catalog command prints on a healthy host (a hash list of /usr/bin
# is ~100 KiB), far below what would hurt the control node with many hosts in parallel.
DEFAULT_MAX_STDOUT_BYTES = 8 << 20
DEFAULT_MAX_STDERR_BYTES = 256 << 10


class Capped:
    """Keeps at most ``limit`` bytes, in memory or written through to ``file``.

    By default the sink is ``full`` once the cap is passed, and the reader stops (a check's
    output cut there is reported, not waited for). With ``keep_tail`` the reader drains to
    the end instead: the first and last halves are kept, the middle counted and dropped, so
    a long-running step is never killed for talking too much and its last lines survive.
    """

    def __init__(self, limit: int, file: BinaryIO | None = None, keep_tail: bool = False) -> None:
        self.limit = max(0, int(limit))
        self.size = 0  # bytes received
        self.truncated = False
        self._file = file
        self._keep_tail = keep_tail and file is None
        self._buffer = bytearray()  # grown in place: no list of chunks joined at the end
        self._tail = bytearray()

    @property
    def full(self) -> bool:
        """The reader should stop: more arrived than the cap, and no tail is wanted."""
        return self.truncated and not self._keep_tail

    def feed(self, data: bytes) -> bool:
        """Keep what fits; return False once the reader should stop."""
        if self._keep_tail:
            return self._feed_tail(data)
        room = self.limit - self.size
        if len(data) > room:
            data = data[: max(0, room)]
            self.truncated = True
        if data:
            if self._file is not None:
                self._file.write(data)
            else:
                self._buffer += data
            self.size += len(data)
        return not self.truncated

    def _feed_tail(self, data: bytes) -> bool:
        head = self.limit // 2
        self.size += len(data)
        room = head - len(self._buffer)
        if room > 0:
            self._buffer += data[:room]
            data = data[room:]
        self._tail += data
        tail = self.limit - head
        if len(self._tail) > 2 * tail:  # trimmed in batches: each trim is a memmove
            del self._tail[: len(self._tail) - tail]
        self.truncated = self.size > self.limit
        return True

    def value(self) -> bytes:
        return bytes(self._kept())

    def text(self) -> str:
        """The bytes kept, decoded (see ``decode``)."""
        return self._kept().decode("utf-8", "backslashreplace")

    def _kept(self) -> bytearray:
        if not self._keep_tail:
            return self._buffer
        tail = self._tail[-(self.limit - self.limit // 2) :] if self.limit else bytearray()
        if not self.truncated:
            return self._buffer + tail
        dropped = self.size - len(self._buffer) - len(tail)
        marker = f"\n[... {dropped} bytes dropped by the control node ...]\n".encode()
        return self._buffer + marker + tail


def decode(data: bytes) -> str:
    """Text from host bytes: invalid UTF-8 survives as visible escapes, never as U+FFFD."""
    return data.decode("utf-8", "backslashreplace")
