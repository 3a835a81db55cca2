"""The live view's renderable (restore.cli.live_view), drawn into a recording console: what a
step's progress, a gate and a hostile name look like, and when the RTO header changes colour.
The real terminal is tested in tests/integration/test_live_view_tmux.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from restore.cli.live_view import LiveProgress, release_command
from restore.execution.journal import Event
from restore.execution.run_state import step_key
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.planning.plan import RestorePlan, build_plan

from .graphs import service, write_graph, write_inventory

HOSTILE = "[bold red]x[/] [link=http://evil.test]click[/link]"


def _plan(tmp: Path, incident_minutes_ago: float | None) -> RestorePlan:
    tmp.mkdir(parents=True, exist_ok=True)
    graph = write_graph(
        tmp,
        [
            service("db", 3, ["db1"], steps=[{"health": {"tcp": 5432}}]),
            service("lis", 1, ["lis1"], ["db"], rto="1h", steps=[{"approve": HOSTILE}]),
        ],
    )
    inventory = write_inventory(tmp, {"servers": ["lis1", "db1"]})
    plan = build_plan(load_graph(graph), load_inventory(inventory), max_parallel=(1,))
    if incident_minutes_ago is None:
        return plan
    declared = datetime.now(UTC) - timedelta(minutes=incident_minutes_ago)
    return replace(plan, graph=replace(plan.graph, incident_declared_at=declared))


def _event(
    host: str, event: str, step: str | None = None, ago_s: float = 0.0, **detail: object
) -> Event:
    """A journal row written `ago_s` seconds ago."""
    return Event(
        seq=1,
        run_id="r1",
        ts=(datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat(),
        host=host,
        service=None,
        step=step,
        event=event,
        detail=dict(detail),
        prev_hash="",
        hash="",
    )


def _draw(view: LiveProgress) -> tuple[str, str]:
    """(text, text with styles as ANSI) of one redraw."""
    console = Console(width=200, record=True, color_system="truecolor", force_terminal=True)
    console.print(view)
    return console.export_text(clear=False), console.export_text(styles=True)


def _view(tmp: Path, incident_minutes_ago: float | None = None) -> LiveProgress:
    view = LiveProgress(state_dir=tmp / "state dir", tty=False, quiet=True)
    view.run_started("r1", _plan(tmp, incident_minutes_ago), resumed=False)
    return view


def test_rows_follow_the_start_order_and_a_probe_shows_its_tries(tmp_path: Path) -> None:
    view = _view(tmp_path)
    # the clock is computed when drawn, from the step's journaled start
    view.event(
        _event("db1", "started", "1:health: tcp=5432", ago_s=65, type="health", timeout_s=600)
    )
    view.step_progress("db1", "1:health: tcp=5432", "try 3, last: tcp 1.2.3.4:5432: refused")
    text, _ = _draw(view)
    assert text.index(" db1 ") < text.index(" lis1 ")  # db is needed first, written second
    assert "1m05s / 10m" in text
    assert "try 3, last: tcp 1.2.3.4:5432: refused" in text


def test_a_gate_is_shown_whole_as_text_with_its_release_command(tmp_path: Path) -> None:
    view = _view(tmp_path)
    key = step_key(1, view._plan.host("lis1").steps[0])  # the journal's key, label cut at 40
    view.event(_event("lis1", "started", key, type="approve", timeout_s=86400))
    text, _ = _draw(view)
    assert f"WAITING lis1: {HOSTILE}" in text  # brackets as typed: never markup
    assert f"release with: restore approve lis1 --by NAME --state-dir '{tmp_path}/state dir'" in (
        text
    )
    assert release_command("a;b", None) == "restore approve 'a;b' --by NAME"
    view.event(_event("lis1", "succeeded", key))
    assert "WAITING" not in _draw(view)[0]


def test_the_rto_header_turns_amber_then_red(tmp_path: Path) -> None:
    green = _draw(_view(tmp_path / "g", incident_minutes_ago=10))
    amber = _draw(_view(tmp_path / "a", incident_minutes_ago=50))
    red = _draw(_view(tmp_path / "r", incident_minutes_ago=70))
    assert "since 10m" in green[0] and "(incident) / RTO 1h00m" in green[0]
    assert "RTO MISSED" in red[0] and "RTO MISSED" not in amber[0]
    # green, dark orange, red: three different styles on the same line
    styles = {
        next(line for line in drawn[1].splitlines() if "RTO 1h00m" in line)
        .split("since")[0]
        .split("lis")[-1]
        for drawn in (green, amber, red)
    }
    assert len(styles) == 3


def test_off_a_terminal_a_gate_is_one_plain_line_with_its_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    view = LiveProgress(state_dir=tmp_path / "s", tty=False)
    view.run_started("r1", _plan(tmp_path, None), resumed=False)
    key = step_key(1, view._plan.host("lis1").steps[0])
    view.event(_event("lis1", "started", key, type="approve", timeout_s=86400))
    view.step_progress("db1", "nothing running", "ignored")  # not its current step: dropped
    err = capsys.readouterr().err
    assert f"lis1 waiting for approval: {HOSTILE}" in err
    assert f"release with: restore approve lis1 --by NAME --state-dir {tmp_path}/s" in err
    assert "ignored" not in err
