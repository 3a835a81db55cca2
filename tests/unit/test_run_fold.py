"""One fold of the journal (restore.execution.run_fold) for every reader.

A journal with an interruption, a resume and an operator's skip, written to a real SQLite
journal, read by each reader as it reads it in production: `restore status` (the real CLI in
a subprocess), the report (`restore report` likewise), the engine's replay and the live view's
rows. They must tell the same story because they read the same view; and the modules that
draw the report and the live view name no event at all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from restore.cli.live_view import LiveProgress, shown
from restore.execution.journal import Journal
from restore.execution.run_fold import Change, RunFold, fold_run
from restore.execution.run_state import replay, replay_facts
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.models import StepSpec, StepType
from restore.planning.plan import RestorePlan, build_plan
from restore.reporting.model import ServiceInfo, build_report
from restore.reporting.render import to_junit

from .graphs import service, write_graph, write_inventory

ROOT = Path(__file__).resolve().parents[2]
HOSTS = {"a1": "app", "b1": "db", "c1": "lab"}
BEFORE_STOP = {"a1": "restored", "b1": "interrupted", "c1": "interrupted"}
AFTER_RESUME = {"a1": "restored", "b1": "restored", "c1": "skipped"}


def _plan(tmp: Path) -> RestorePlan:
    graph = write_graph(
        tmp,
        [
            service("app", 1, ["a1"], steps=[{"ssh": "true", "name": "check"}]),
            service("db", 2, ["b1"], steps=[{"ssh": "sleep 60", "name": "long"}]),
            service("lab", 3, ["c1"], steps=[{"approve": "go ahead"}]),
        ],
    )
    inventory = write_inventory(tmp, {"servers": list(HOSTS)})
    return build_plan(load_graph(graph), load_inventory(inventory))


class _Writer:
    """Rows as the engine and the operator commands write them."""

    def __init__(self, journal: Journal, run_id: str) -> None:
        self.journal, self.run_id = journal, run_id

    def __call__(
        self, event: str, host: str | None = None, step: str | None = None, **detail: Any
    ) -> None:
        service_id = HOSTS.get(host or "")
        self.journal.append(
            self.run_id, event, host=host, service=service_id, step=step, detail=detail
        )

    def step(self, host: str, key: str, kind: str, end: str, **detail: Any) -> None:
        self("started", host, key, type=kind, label=key, attempt=1, timeout_s=600, dry_run=False)
        self(end, host, key, attempt=1, **detail)


def _interrupted_run(journal: Journal) -> str:
    run_id = journal.create_run(
        graph_path="graph.yaml", graph_hash="0", inventory="inventory.yml", options={}
    )
    row = _Writer(journal, run_id)
    row("run_started", hosts=[{"host": h, "service": s, "steps": []} for h, s in HOSTS.items()])
    row("state", "a1", state="quarantined")
    row.step("a1", "1:check", "ssh", "succeeded", message="ok")
    row("state", "a1", state="restored")
    row("state", "b1", state="rebuilding")
    row("started", "b1", "1:long", type="ssh", attempt=1, timeout_s=600, dry_run=False)
    row("state", "c1", state="awaiting_approval")
    row("started", "c1", "1:approve: go ahead", type="approve", attempt=1, timeout_s=86400)
    for host, key in (("b1", "1:long"), ("c1", "1:approve: go ahead")):
        row("interrupted", host, key, signal="SIGTERM", message="interrupted by SIGTERM")
        row("state", host, state="interrupted", step=key)
    row("run_interrupted", signal="SIGTERM", message="interrupted by SIGTERM")
    journal.set_run_state(run_id, "interrupted")
    return run_id


def _resume_with_a_skip(journal: Journal, run_id: str) -> None:
    row = _Writer(journal, run_id)
    row("waived", "c1", by="bob", reason="lab analysers replaced", os_user="root")
    row("run_resumed", previous_state="interrupted")
    row("state", "b1", state="rebuilding")
    row.step("b1", "1:long", "ssh", "succeeded", message="ok")
    row("state", "b1", state="restored")
    row("state", "c1", state="skipped", by="bob", reason="lab analysers replaced")
    row("run_finished", state="succeeded", hosts=AFTER_RESUME, dry_run=False)
    journal.set_run_state(run_id, "succeeded")


def _cli(state: Path, *args: str) -> str:
    """The real program's stdout (the package under test, run from the repository)."""
    done = subprocess.run(
        [sys.executable, "-m", "restore", *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _every_reader(state: Path, run_id: str, plan: RestorePlan) -> dict[str, dict[str, str]]:
    """Each host's state as each reader tells it."""
    status = json.loads(_cli(state, "status", "--format", "json"))
    report = state.parent / "report.json"
    _cli(state, "report", "--format", "json", "-o", str(report))
    journal = Journal(state, read_only=True)
    try:
        live = LiveProgress(journal=journal, tty=False, quiet=True)
        live.run_started(run_id, plan, resumed=True)
        rows = {n: shown(r, live.fold.view.hosts.get(n)).state for n, r in live.rows.items()}
        engine = {n: h.state for n, h in replay(journal.events(run_id)).items()}
    finally:
        journal.close()
    return {
        "status": {h["host"]: h["state"] for h in status["hosts"]},
        "report": {h["host"]: h["state"] for h in json.loads(report.read_text())["hosts"]},
        "live view": rows,
        "engine": engine,
    }


def test_status_report_live_view_and_resume_read_one_fold(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    state = tmp_path / "state"
    journal = Journal(state)
    run_id = _interrupted_run(journal)
    stopped = _every_reader(state, run_id, plan)
    assert all(states == BEFORE_STOP for states in stopped.values()), stopped

    _resume_with_a_skip(journal, run_id)
    journal.close()
    resumed = _every_reader(state, run_id, plan)
    assert all(states == AFTER_RESUME for states in resumed.values()), resumed


def test_the_view_keeps_attempts_interruptions_and_decisions(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    run_id = _interrupted_run(journal)
    _resume_with_a_skip(journal, run_id)
    events = journal.events(run_id)
    view = fold_run(events)
    assert (view.state, view.resumes) == ("succeeded", 1)
    assert [(i.signal, i.message) for i in view.interruptions] == [
        ("SIGTERM", "interrupted by SIGTERM")
    ]
    b1 = view.hosts["b1"]
    assert [(s.step, s.status) for s in b1.steps] == [
        ("1:long", "interrupted"),
        ("1:long", "succeeded"),
    ]
    assert all(s.started_at and s.ended_at and s.ended_at >= s.started_at for s in b1.steps)
    assert b1.finished_at == b1.last_at and b1.running is None
    assert view.hosts["c1"].host_waived is not None
    assert [(d.host, d.kind, d.by) for d in view.decisions] == [("c1", "waived", "bob")]
    # the report's numbers are this view's: one waived host, no failed step
    report = build_report(
        [e.to_json() for e in events],
        [ServiceInfo(s, s, 1, None, (h,)) for h, s in HOSTS.items()],
        run_id=run_id,
        graph_name="g",
    )
    assert report.outcome == "succeeded" and not report.failures
    assert [d["decision"] for d in report.decisions] == ["waived"]
    assert 'name="00 outcome"' in to_junit(report)
    journal.close()


def test_a_step_cut_by_a_crash_stays_open_in_the_record_but_runs_no_more() -> None:
    """kill -9 writes no end: the attempt stays "running" for the report (a failure in JUnit),
    and the live process after --resume shows no clock for it."""
    from restore.execution.journal import Event

    def row(seq: int, event: str, step: str | None = None, **detail: Any) -> Event:
        host = "h1" if event not in {"run_resumed"} else None
        return Event(
            seq, "r", f"2026-11-30T01:00:{seq:02d}+00:00", host, "s", step, event, detail, "", ""
        )

    fold = RunFold()
    changes = [
        fold.apply(row(1, "started", "1:x", type="ssh", attempt=1)),
        fold.apply(row(2, "run_resumed")),
        fold.apply(row(3, "state", state="rebuilding")),
        fold.apply(row(4, "started", "1:x", type="ssh", attempt=1)),
        fold.apply(row(5, "approved", "1:x", by="ann")),
        fold.apply(row(6, "succeeded", "1:x", verdict="clean")),
        fold.apply(row(7, "state", state="restored")),
    ]
    assert changes == [
        Change.STEP_STARTED,
        Change.RUN,
        Change.HOST_STATE,
        Change.STEP_STARTED,
        Change.DECISION,
        Change.STEP_ENDED,
        Change.HOST_FINISHED,
    ]
    host = fold.view.hosts["h1"]
    assert [(s.status, s.failed) for s in host.steps] == [("running", True), ("succeeded", False)]
    assert host.running is None and host.verdict == "clean" and host.last["1:x"] == "succeeded"
    step = StepSpec(StepType.CHECK, name="x")  # its key: "1:x"
    facts = replay_facts([step], fold.view.log, "h1")
    assert facts.verdict is not None and facts.verdict.value == "clean"


@pytest.mark.parametrize(
    "module",
    ["reporting/model.py", "reporting/build.py", "reporting/render.py", "cli/live_view.py"],
)
def test_the_report_and_the_live_view_name_no_event(module: str) -> None:
    """Which row ends a step or is a decision is the fold's to say, nobody else's."""
    source = (ROOT / "restore" / module).read_text()
    assert not re.search(r"EventKind|_EVENTS\b|\.event\s*(==|!=|in\b)|\[\"event\"\]", source)


def test_the_live_view_after_resume_folds_each_row_once(tmp_path: Path) -> None:
    """The engine sends `run_resumed` before the view starts, then the view reads the journal
    so far: no row may count twice, and rows sent after it count once."""
    plan = _plan(tmp_path)
    journal = Journal(tmp_path / "state")
    run_id = _interrupted_run(journal)
    live = LiveProgress(journal=journal, tty=False, quiet=True)
    live.event(journal.append(run_id, "run_resumed", detail={"previous_state": "interrupted"}))
    live.run_started(run_id, plan, resumed=True)
    live.event(journal.append(run_id, "run_resumed", detail={}))  # a new row: counted once
    started = journal.append(
        run_id, "started", host="b1", service="db", step="1:long", detail={"type": "ssh"}
    )
    live.event(started)
    view = live.fold.view
    assert [e.seq for e in view.log] == [e.seq for e in journal.events(run_id)]
    assert view.resumes == 2 and view.interruptions
    row = shown(live.rows["b1"], view.hosts["b1"])
    assert (row.state, row.step, row.running is not None) == ("interrupted", "1:long", True)
    assert shown(live.rows["a1"], view.hosts["a1"]).state == "restored"
    journal.close()
