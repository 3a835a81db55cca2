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
    """Keeps at most ``limit`` bytes, in memory or written through to ``file``."""

    def __init__(self, limit: int, file: BinaryIO | None = None) -> None:
        self.limit = max(0, int(limit))
        self.size = 0
        self.truncated = False
        self._file = file
        self._buffer = bytearray()  # grown in place: no list of chunks joined at the end

    @property
    def full(self) -> bool:
        return self.truncated

    def feed(self, data: bytes) -> bool:
        """Keep what fits; return False once more arrived than the cap allows."""
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

    def value(self) -> bytes:
        return bytes(self._buffer)

    def text(self) -> str:
        """The bytes kept, decoded (see ``decode``), without an intermediate copy."""
        return self._buffer.decode("utf-8", "backslashreplace")


def decode(data: bytes) -> str:
    """Text from host bytes: invalid UTF-8 survives as visible escapes, never as U+FFFD."""
    return data.decode("utf-8", "backslashreplace")
