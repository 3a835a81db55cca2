"""A Gantt chart of hosts over time as a standalone SVG string (no external assets).

Used by the HTML report (real timings from the journal) and the HTML runbook (the simulated
timeline). Pure: bars in, markup out.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from restore.inputs.durations import format_duration

STATUS_COLOURS = {
    "reconnected": "#2e7d32",
    "restored": "#558b2f",
    "succeeded": "#2e7d32",
    "planned": "#1565c0",
    "running": "#f9a825",
    "failed": "#c62828",
    "blocked": "#8e8e8e",
    "skipped": "#6d4c41",
}


@dataclass(frozen=True)
class Bar:
    label: str  # host name
    group: str  # service id
    start_s: float
    end_s: float
    status: str = "planned"


def gantt_svg(bars: list[Bar], *, title: str, width: int = 900, row_height: int = 18) -> str:
    if not bars:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="30" role="img" '
            f'aria-label="{escape(title)}"><text x="4" y="20">no activity</text></svg>'
        )
    label_width = 200
    plot_width = width - label_width - 20
    horizon = max(max(b.end_s for b in bars), 1.0)
    height = 40 + row_height * len(bars) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    ticks = 6
    for i in range(ticks + 1):
        x = label_width + plot_width * i / ticks
        parts.append(f'<line x1="{x:.1f}" y1="28" x2="{x:.1f}" y2="{height - 24}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">'
            f"{escape(format_duration(horizon * i / ticks))}</text>"
        )
    for row, bar in enumerate(bars):
        y = 32 + row * row_height
        x = label_width + plot_width * bar.start_s / horizon
        w = max(2.0, plot_width * (bar.end_s - bar.start_s) / horizon)
        colour = STATUS_COLOURS.get(bar.status, "#555")
        parts.append(
            f'<text x="4" y="{y + row_height - 6}">{escape(bar.label)} '
            f'<tspan fill="#777">({escape(bar.group)})</tspan></text>'
        )
        parts.append(
            f'<rect class="bar" data-host="{escape(bar.label)}" data-status="{escape(bar.status)}" '
            f'x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row_height - 5}" fill="{colour}">'
            f"<title>{escape(bar.label)}: {escape(bar.status)}, "
            f"{escape(format_duration(bar.start_s))} to "
            f"{escape(format_duration(bar.end_s))}</title></rect>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
