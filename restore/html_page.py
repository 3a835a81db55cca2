"""Printable HTML pages: one self-contained file, inline CSS, no external assets.

`markdown_to_html` renders the Markdown our own renderers emit (headings, paragraphs, pipe
tables, `code`, **bold**), so the printable runbook has one source of truth.
"""

from __future__ import annotations

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


def markdown_to_html(markdown: str) -> str:
    """Our own Markdown (escaped by restore.markdown_text) as HTML, by a CommonMark parser
    with raw HTML switched off: whatever slipped through would be shown, never run."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    return str(parser.render(markdown))


def page(title: str, body: str, css: str = PRINT_CSS) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{css}</style></head><body>\n{body}\n</body></html>\n"
    )
