"""Printable HTML pages: Jinja2 templates with autoescape, one stylesheet, no external assets.

Why templates and not strings: every value in a report can come from a compromised host (file
names, findings) or an operator (reasons), and autoescaping makes escaping the default rather
than something each f-string must remember. Markdown (the printable runbook's one source) is
turned into HTML by markdown-it-py with raw HTML disabled, so markup inside data stays text.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt
from markupsafe import Markup

TEMPLATES = Path(__file__).with_name("templates")


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt field fails the test, not the report silently
        keep_trailing_newline=True,
    )


@cache
def stylesheet() -> str:
    return (TEMPLATES / "print.css").read_text(encoding="utf-8")


def render(template: str, **context: Any) -> str:
    return _environment().get_template(template).render(css=Markup(stylesheet()), **context)


def markdown_to_html(markdown: str) -> str:
    # CommonMark plus pipe tables; "html": False turns any raw HTML in the text into text.
    rendered: str = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return rendered


def page(title: str, body_html: str) -> str:
    """A whole page around HTML that is already safe (ours: rendered and escaped)."""
    return render("page.html.j2", title=title, body=Markup(body_html))
