"""Durations as people write them in a graph file: ``90s``, ``30m``, ``8h``, ``2d``, ``1h30m``."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_WHOLE = re.compile(r"^(?:\d+(?:\.\d+)?[smhd])+$")

DURATION_HELP = "write a number followed by s, m, h or d, e.g. 45s, 30m, 8h, 1h30m"


def parse_duration(text: str) -> float:
    """Return seconds; raise ValueError with the accepted syntax for anything else."""
    compact = text.strip().replace(" ", "").lower()
    if not compact or not _WHOLE.match(compact):
        raise ValueError(f"bad duration {text!r}: {DURATION_HELP}")
    return float(sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(compact)))


def format_duration(seconds: float) -> str:
    """Compact human form used in tables: ``2h05m``, ``45m``, ``30s``."""
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m" if not secs else f"{minutes}m{secs:02d}s"
    return f"{secs}s"
