"""The one escaped Markdown writer: every piece of data put into a Markdown report goes here.

File names, command output, operator reasons and host names may be written by an attacker
(DESIGN §9). Unescaped, a `|` splits a table cell, a newline forges an extra evidence line,
and `<img src=x onerror=...>` runs in whatever Markdown viewer the crisis cell opens the report
in. So data is rendered as inert text:

- control characters (newlines included), lone surrogates (invalid UTF-8 in a file name) and
  bidi overrides become visible escapes such as ``\\x0a``: one value stays on one line;
- `&`, `<` and `>` become entities, so no HTML (or entity) ever comes from data;
- the characters that make inline structure are backslash-escaped: `\\`, `` ` ``, `*`, `[`,
  `]`, `|`, `~`, and `_` unless inside a word (where CommonMark never reads it as emphasis);
- a value that starts like a block (`#`, `-`, `+`, `=`, `>`, `1.`) has that start escaped.
  Dates, paths and host names stay readable in the raw file.

Code spans cannot hold escapes, so `code()` keeps the backticks only for values made of
characters that need none (hashes, ids, simple paths) and escapes anything else as text.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufeff]"
)
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_INLINE = re.compile(r"[\\`*\[\]|~&<>]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_BLOCK_START = re.compile(r"^(\s*)([#\-+=>]|\d+[.)])")
_CODE_SAFE = re.compile(r"[A-Za-z0-9_.:/@+=,-]+")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _ENTITIES.get(char) or "\\" + char


def text(value: object) -> str:
    """`value` as inert inline Markdown text: safe in a paragraph, a heading or a table cell."""
    raw = _INLINE.sub(_escape_char, _UNSAFE.sub(_visible, str(value)))
    return _BLOCK_START.sub(_escape_block_start, raw, count=1)


def _escape_block_start(match: re.Match[str]) -> str:
    marker = match.group(2)
    return match.group(1) + (marker[:-1] + "\\" + marker[-1] if len(marker) > 1 else "\\" + marker)


def code(value: object) -> str:
    """`value` as a code span when it can be one safely, else as escaped text."""
    raw = str(value)
    return f"`{raw}`" if _CODE_SAFE.fullmatch(raw) else text(raw)


def row(*cells: object) -> str:
    """A table row from cells that are already Markdown (pass data through `text`/`code`)."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"
