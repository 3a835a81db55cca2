"""Findings: reports and the console interpreted data.

The Markdown report escaped nothing (a `|`, a newline or raw HTML in a file name or an
operator's reason broke tables, forged evidence lines and carried `<img onerror>` into any
Markdown viewer); console messages were rich markup (`[/x]` in a path crashed with a
traceback, `[red]x[/]` vanished). Every renderer now gets every string of the corpus, and its
output must have exactly the structure it has for a harmless string.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from markdown_it import MarkdownIt

from restore.reporting.model import RecoveryReport, ServiceInfo, build_report
from restore.reporting.render import to_html, to_json, to_junit, to_markdown
from tests.hostile.corpus import HOSTILE, LITERAL_ON_CONSOLE

BENIGN = "benign"
T0 = datetime.fromisoformat("2026-11-21T08:00:00+00:00")


def _event(seq: int, host: str, step: str | None, event: str, **detail: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "run_id": "r1",
        "ts": (T0 + timedelta(minutes=seq)).isoformat(),
        "host": host,
        "service": "lis",
        "step": step,
        "event": event,
        "detail": detail,
        "prev_hash": "",
        "hash": "",
    }


def _report(s: str) -> RecoveryReport:
    """A report where every field that comes from a host or an operator holds `s`."""
    host = f"lis1 {s}"  # a journal written by an older version may hold any host name
    events = [
        _event(1, host, "evidence", "started"),
        _event(
            2,
            host,
            "evidence",
            "succeeded",
            items=[{"source": s, "sha256": s, "size": s, "collected_by": s, "collected_at": s}],
        ),
        _event(3, host, "check", "started"),
        _event(
            4,
            host,
            "check",
            "failed",
            verdict="compromised",
            message=s,
            findings=[{"check": s, "status": "fail", "detail": s, "evidence": [s, s]}],
        ),
        _event(5, host, "approve", "approved", by=s, reason=s),
        _event(6, host, None, "state", state="failed", message=s),
    ]
    return build_report(
        events,
        [ServiceInfo("lis", s, 1, 3600.0, (host,))],
        run_id="r1",
        graph_name=s,
        incident_at=None,
        head_hash="f" * 64,
        chain_ok=True,
    )


# --- Markdown ----------------------------------------------------------------------------------

_VIEWER = MarkdownIt("commonmark", {"html": True}).enable("table")  # a viewer that allows HTML


def _flatten(tokens: list[Any]) -> list[Any]:
    out = []
    for token in tokens:
        out.append(token)
        out.extend(_flatten(token.children or []))
    return out


def _markdown_shape(text: str) -> list[str]:
    tokens = _flatten(_VIEWER.parse(text))
    raw_html = [t.content for t in tokens if t.type in {"html_inline", "html_block"}]
    assert raw_html == [], f"raw HTML reached the Markdown: {raw_html[:3]}"
    links = [t for t in tokens if t.type in {"link_open", "image"}]
    assert links == [], "a link or image came from data"
    # Block structure (headings, tables and their rows/cells, list items, paragraphs):
    # identical to the harmless rendering means no forged row, line, heading or cell.
    return [t.type for t in tokens if t.block]


def _cell_texts(text: str) -> list[str]:
    tokens = _VIEWER.parse(text)
    return [t.content for t in tokens if t.type == "inline"]


@pytest.mark.parametrize("s", HOSTILE, ids=range(len(HOSTILE)))
def test_markdown_report_is_inert(s: str) -> None:
    hostile, benign = to_markdown(_report(s)), to_markdown(_report(BENIGN))
    assert _markdown_shape(hostile) == _markdown_shape(benign)
    hostile.encode("utf-8")  # writable as a file, whatever the bytes of a file name were
    if s in LITERAL_ON_CONSOLE:  # shown as the reader would expect to see it
        rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(hostile)
        assert s in _unescape_html(rendered)


def _unescape_html(text: str) -> str:
    import html

    return html.unescape(text)


@pytest.mark.parametrize("s", HOSTILE, ids=range(len(HOSTILE)))
def test_plan_runbook_markdown_and_html_are_inert(s: str, tmp_path: Path) -> None:
    from restore.reporting.html_page import markdown_to_html, page
    from restore.reporting.plan_runbook import to_markdown as plan_markdown

    shapes, pages = [], []
    for value in (s, BENIGN):
        plan = _plan(tmp_path / ("h" if value is s else "b"), value)
        text = plan_markdown(plan)
        shapes.append(_markdown_shape(text))
        pages.append(_html_shape(page(value, markdown_to_html(text))))
        text.encode("utf-8")
    assert shapes[0] == shapes[1]
    assert pages[0] == pages[1]


def _plan(folder: Path, s: str) -> Any:
    from restore.inputs.graph import load_graph
    from restore.inputs.inventory import load_inventory
    from restore.planning.plan import build_plan

    folder.mkdir()
    # Graph text is free in names and messages; YAML double quotes carry any character.
    quoted = json.dumps(s.replace("\x00", "0").replace("\udcff", "?").replace("\udcfe", "?"))
    (folder / "graph.yaml").write_text(
        "version: 1\n"
        f"name: {quoted}\n"
        "services:\n"
        f"  - id: lis\n    name: {quoted}\n    priority: 1\n    hosts: [lis01]\n"
        f"    steps: [{{approve: {quoted}}}, {{ssh: {quoted}}}, {{health: {{http: {quoted}}}}}]\n"
    )
    (folder / "hosts.ini").write_text("lis01 ansible_host=127.0.0.1\n")
    return build_plan(
        load_graph(folder / "graph.yaml"), load_inventory(folder / "hosts.ini"), max_parallel=[1]
    )


# --- HTML, JSON, JUnit ---------------------------------------------------------------------------


class _Shape(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # Element and attribute *names* only: values (text, class) may hold data, escaped.
        self.shape.append(f"<{tag} {' '.join(sorted(name for name, _ in attrs))}>")

    def handle_endtag(self, tag: str) -> None:
        self.shape.append(f"</{tag}>")


def _html_shape(text: str) -> list[str]:
    parser = _Shape()
    parser.feed(text)
    parser.close()
    return parser.shape


@pytest.mark.parametrize("s", HOSTILE, ids=range(len(HOSTILE)))
def test_html_json_and_junit_reports_are_inert(s: str) -> None:
    report, benign = _report(s), _report(BENIGN)
    assert _html_shape(to_html(report)) == _html_shape(to_html(benign))
    to_html(report).encode("utf-8")  # writable as a file, whatever bytes a file name had
    data = json.loads(json.dumps(to_json(report)))
    assert data == json.loads(json.dumps(to_json(report)))
    junit, junit_benign = to_junit(report), to_junit(benign)
    shape = [(e.tag, sorted(e.attrib)) for e in ET.fromstring(junit.encode()).iter()]
    assert shape == [(e.tag, sorted(e.attrib)) for e in ET.fromstring(junit_benign).iter()]


# --- Console and the live view --------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(
        (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E
        for c in text
    )


@pytest.mark.parametrize("s", HOSTILE, ids=range(len(HOSTILE)))
def test_console_messages_and_live_lines_show_data_literally(s: str) -> None:
    from rich.table import Table

    from restore.cli import console
    from restore.cli.live_view import HostRow, LiveProgress
    from restore.execution.journal import Event

    def row(seq: int, event: str, **detail: object) -> Event:
        return Event(seq, "r", "2026-11-21T08:00:00+00:00", s, s, s, event, detail, "", "")

    progress = LiveProgress(tty=False)
    progress.rows[s] = HostRow(host=s, service=s, position=1, gates={s: s})
    # a host in a hostile state whose check named a hostile verdict, now waiting at a gate
    # with a hostile text; its last journaled note is hostile too
    for event in (
        row(1, "state", state=s, reason=s),
        row(2, "started", type="check"),
        row(3, "succeeded", verdict=s),
        row(4, "started", type="approve", attempt=2),
    ):
        progress.event(event)
    failed = row(5, "failed", message=s)
    table: Table = progress._table()
    with console.err.capture() as captured:
        console.error(s)
        console.warn(s)
        console.info(progress._line(failed, progress.fold.apply(failed), None) or "")
        console.err.print(table)
        for gate in progress._gates():
            console.err.print(gate)
    shown = captured.get()
    assert not _has_control(shown.replace("\n", "")), repr(shown[:200])
    if s in LITERAL_ON_CONSOLE:
        assert shown.count(s) >= 3, shown


def test_a_markup_like_path_is_shown_not_parsed_by_the_real_program(tmp_path: Path) -> None:
    folder = tmp_path / "[/x][red]x[/]"
    folder.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "restore", "validate", str(folder / "g.yaml"), "-i", "none.ini"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "400"},
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "[/x][red]x[/]" in done.stderr
