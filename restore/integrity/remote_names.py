"""A file name as the host's bytes: rebuilt from what a check showed, and named on the host.

Check output is decoded with ``backslashreplace``, so a name byte that is not UTF-8 shows as
``\\xNN`` (always 80 to ff: only those bytes can be invalid). To copy such a file, the name
is rebuilt as bytes and recreated on the host by ``printf '%b'`` from octal escapes: the
bytes never cross the wire or meet a shell except as quoted ASCII.
"""

from __future__ import annotations

import re
import shlex

_SHOWN_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")
_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,=@")


def shown_as_bytes(shown: str) -> bytes:
    """The bytes a shown name stands for: each ``\\xNN`` escape as its byte, the rest as UTF-8."""
    raw = bytearray()
    pos = 0
    for match in _SHOWN_BYTE.finditer(shown):
        raw += shown[pos : match.start()].encode("utf-8", "backslashreplace")
        raw.append(int(match.group(1), 16))
        pos = match.end()
    raw += shown[pos:].encode("utf-8", "backslashreplace")
    return bytes(raw)


def has_shown_bytes(shown: str) -> bool:
    return _SHOWN_BYTE.search(shown) is not None


def assign_text(name: str) -> str:
    """Shell code setting ``p`` to a name that is text."""
    return f"p={shlex.quote(name)}"


def assign_bytes(raw: bytes) -> str:
    """Shell code setting ``p`` to a name given as bytes, any bytes (newlines, trailing ones
    too: the ``.`` guard keeps command substitution from eating them)."""
    escaped = "".join(chr(b) if b in _PLAIN else f"\\0{b:03o}" for b in raw)
    return f"p=\"$(printf '%b.' '{escaped}')\"; p=\"${{p%.}}\""
