"""HTML pages from templates: every value is data, never markup, in reports and runbooks."""

from __future__ import annotations

import copy
from html.parser import HTMLParser

from restore.reporting.html_page import markdown_to_html, page
from restore.reporting.model import build_report
from restore.reporting.render import to_html
from tests.unit.test_report import EVENTS, SERVICES

HOSTILE = '<img src=x onerror=alert(1)><script>alert(2)</script>" onmouseover="x'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)


def _parsed(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    return tags


def test_a_report_keeps_hostile_names_and_reasons_as_text() -> None:
    events = copy.deepcopy(EVENTS)
    events[5]["detail"]["items"][0]["source"] = f"/srv/{HOSTILE}"  # type: ignore[index]
    events[7]["detail"]["findings"][0]["detail"] = HOSTILE  # type: ignore[index]
    events[8]["detail"]["reason"] = HOSTILE  # type: ignore[index]
    report = build_report(events, SERVICES, run_id="r1", graph_name=HOSTILE)
    html = to_html(report)
    parsed = _parsed(html)
    assert "img" not in parsed.tags and "script" not in parsed.tags
    assert "onerror" not in parsed.attributes and "onmouseover" not in parsed.attributes
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 4  # title, h1, file, finding...
    assert (
        parsed.tags.count("table") == 7
    )  # services, hosts, failures, verdicts, evidence, decisions, journal
    assert "<style>" in html and "svg" in parsed.tags


def test_the_runbook_markdown_becomes_tables_and_raw_html_stays_text() -> None:
    markdown = (
        "# Runbook\n\n| # | Service |\n|---|---|\n| 1 | lis `x` |\n\n"
        f"A note from a host: {HOSTILE}\n"
    )
    html = page("Runbook", markdown_to_html(markdown))
    parsed = _parsed(html)
    assert {"h1", "table", "th", "td", "code"} <= set(parsed.tags)
    assert "img" not in parsed.tags and "script" not in parsed.tags
    assert "&lt;script&gt;" in html


def test_one_stylesheet_for_every_page() -> None:
    report_page = to_html(build_report(EVENTS, SERVICES, run_id="r1", graph_name="g"))
    runbook_page = page("Runbook", markdown_to_html("# x"))
    style = runbook_page.split("<style>")[1].split("</style>")[0]
    assert style and style in report_page
