"""The report's restore points, read from the one fold of journal rows (pure)."""

from __future__ import annotations

from typing import Any

from restore.ansible.runner import custom_stats
from restore.execution.journal_chain import Event
from restore.execution.run_fold import RunView, fold_run
from restore.reporting.restore_points import markdown, restore_points


def _view(*rows: dict[str, Any]) -> RunView:
    """The rows as the journal folds them; each step's end comes after its start."""
    events = []
    for seq, row in enumerate(rows, 1):
        if row.get("event") != "started" and row.get("step"):
            start = {**row, "event": "started", "detail": {"type": "ansible"}}
            events.append(Event.from_json({**start, "seq": 2 * seq - 1}))
        events.append(Event.from_json({**row, "seq": 2 * seq}))
    return fold_run(events)


def _row(choice: Any, host: str = "pg01") -> dict[str, Any]:
    return {
        "ts": "2026-11-30T10:00:00+00:00",
        "host": host,
        "step": "5:restore",
        "event": "succeeded",
        "detail": {
            "ansible": {"status": "successful", "custom_stats": {"restore_data_choice": choice}}
        },
    }


CHOICE = {
    "id": "a" * 64,
    "time": "2026-11-14T02:00:00Z",
    "verdict": "clean",
    "pinned_by": "",
    "reason": "last clean snapshot before the incident",
    "scan": {"repository": "/srv/backup/restic", "scanned": 3, "last_clean": None},
    "rejected": [
        {
            "id": "b" * 64,
            "time": "2026-11-15T02:00:00Z",
            "verdict": "suspect",
            "findings": ["persistence_cron: /etc/cron.d/.sync|<img src=x>\nforged"],
        }
    ],
}


def test_the_choice_and_the_rejected_come_from_the_steps_journal_row() -> None:
    (point,) = restore_points(_view(_row(CHOICE)))
    assert point["host"] == "pg01" and point["step"] == "5:restore" and point["scanned"] == 3
    assert point["ts"] == "2026-11-30T10:00:00+00:00"
    assert point["chosen"] == {"id": "a" * 64, "time": "2026-11-14T02:00:00Z", "verdict": "clean"}
    assert point["rejected"][0]["verdict"] == "suspect"


def test_a_blocked_host_and_odd_rows_never_crash() -> None:
    blocked = {"id": None, "blocked": "no clean snapshot of pg02", "rejected": "not a list"}
    odd = {"ts": "2026-11-30T10:00:00+00:00", "host": "pg03", "step": "1:x", "event": "failed"}
    points = restore_points(_view(_row(blocked, "pg02"), _row("not a dict"), odd))
    assert len(points) == 1
    assert points[0]["chosen"] is None and points[0]["rejected"] == []
    assert "none: no clean snapshot of pg02" in "\n".join(markdown(points))


def test_markdown_keeps_a_hostile_finding_on_one_inert_line() -> None:
    text = "\n".join(markdown(restore_points(_view(_row(CHOICE)))))
    assert "## Restore points (backup scan)" in text
    assert "<img" not in text and "\\|" in text
    assert "forged" in text and "\nforged" not in text


def test_custom_stats_are_read_from_the_stats_event_only() -> None:
    stats = {"event": "playbook_on_stats", "event_data": {"artifact_data": {"k": 1}}}
    assert custom_stats(stats) == {"k": 1}
    assert custom_stats({"event": "runner_on_ok", "event_data": {"artifact_data": {"k": 1}}}) == {}
    assert custom_stats({"event": "playbook_on_stats", "event_data": {}}) == {}
