"""One place for terminal output: rich for people (stderr for messages), plain JSON on stdout.

Keeping stdout for data alone means `restore ... --format json | jq` always works, even when
warnings or progress are printed.

Data is never markup. Host names, paths, file names, command output and operator reasons can
come from an attacker (DESIGN §9): a path holding `[/x]` once crashed rich's markup parser and
`[red]x[/]` vanished from an error. So both consoles have markup switched off (table cells and
messages print literally), styles are applied with `Text` objects only, and `safe()` shows
control characters (ANSI escapes, carriage returns, bidirectional overrides) as visible
escapes instead of letting them move the cursor, clear the screen or reorder a line.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from restore.secrets import redact_text

# Piped output (a file, `less`, CI logs) gets a wide fixed width instead of rich's 80 columns,
# so that tables stay readable; COLUMNS still wins when set.
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
out = Console(highlight=False, width=_PIPED_WIDTH, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode bidi embeddings,
# overrides and isolates (a right-to-left override makes `exe.txt` read as `txt.exe`).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """`text` with every control or bidi character shown as an escape, never interpreted,
    and every secret this process knows (restore.secrets) masked."""
    value = redact_text(str(text))
    return _UNSAFE.sub(_escape, value) if _UNSAFE.search(value) else value


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def styled(text: object, style: str = "") -> Text:
    """A table cell or message part: printed literally (and made safe), in `style`."""
    return Text(safe(text), style=style)


def line(*parts: str | tuple[str, str]) -> Text:
    """A line from parts: a str is data (literal), a (text, style) pair is styled."""
    result = Text()
    for part in parts:
        if isinstance(part, tuple):
            result.append(safe(part[0]), style=part[1])
        else:
            result.append(safe(part))
    return result


def emit_json(data: Any) -> None:
    """Write one JSON document to stdout, and nothing else."""
    # Indented for a person at a terminal; compact (and C-encoded, ~10x faster on 10,000-host
    # plans) when piped to a script.
    indent = 2 if sys.stdout.isatty() else None
    typer.echo(json.dumps(data, indent=indent, sort_keys=False, default=str))


def error(message: str) -> None:
    err.print(line(("error:", "bold red"), " ", message), highlight=False)


def warn(message: str) -> None:
    err.print(line(("warning:", "bold yellow"), " ", message), highlight=False)


def info(message: str) -> None:
    err.print(styled(message), highlight=False)
