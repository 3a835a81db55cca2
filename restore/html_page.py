"""Printable HTML pages: one self-contained file, inline CSS, no external assets.

`markdown_to_html` handles the small Markdown subset our own renderers emit (headings,
paragraphs, pipe tables, `code`, **bold**), so the printable runbook has one source of truth.
"""

from __future__ import annotations

import re
from html import escape

PRINT_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#111;max-width:1100px}
h1{font-size:1.6em}h2{border-bottom:2px solid #333;margin-top:1.6em}h3{margin-top:1.4em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #999;padding:4px 6px;text-align:left;vertical-align:top;min-width:2em}
th{background:#eee}code{font-size:.85em;word-break:break-all}
@media print{body{margin:0;max-width:none}h2,h3,h4{page-break-after:avoid}
tr{page-break-inside:avoid}h3{page-break-before:auto}}
"""


def _inline(text: str) -> str:
    out = escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def markdown_to_html(markdown: str) -> str:
    html: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            html.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif (
            line.startswith("|")
            and i + 1 < len(lines)
            and set(lines[i + 1].replace("|", "").strip()) <= {"-", " "}
        ):
            head = "".join(f"<th>{_inline(c)}</th>" for c in _cells(line))
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(lines[i])) + "</tr>"
                )
                i += 1
            html.append(
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            )
            continue
        elif line.strip():
            para = [line]
            while (
                i + 1 < len(lines)
                and lines[i + 1].strip()
                and not lines[i + 1].startswith(("#", "|"))
            ):
                i += 1
                para.append(lines[i])
            html.append(f"<p>{_inline(' '.join(para))}</p>")
        i += 1
    return "\n".join(html)


def page(title: str, body: str, css: str = PRINT_CSS) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{css}</style></head><body>\n{body}\n</body></html>\n"
    )
