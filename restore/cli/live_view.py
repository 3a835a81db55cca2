"""The crisis cell's screen during `restore run`: a live table that never freezes.

Why it is built this way:
  - what a row shows comes from the one fold of the journal (restore.execution.run_fold), fed
    each row as the engine writes it: the screen, `restore status` and the report cannot
    disagree about a host. Only a step's own chatter (a probe's tries), which is not
    journaled, is kept here;
  - the table is a renderable (`__rich__`) that rich's Live redraws on its own timer
    (auto refresh); every elapsed time is computed when it is drawn, from the journaled start
    of the step. A step that runs for ten minutes without a word (a health probe, an
    approval) still shows its clock moving;
  - rows follow the start order the engine follows (restore.planning.explain), so the screen, the
    plan's "#" column and the runbook agree;
  - after `--resume` the fold is first fed the run's journal so far, so a host that finished
    before the crash shows `reconnected`, as `restore status` says;
  - a waiting approval shows its whole text and the exact command that releases it: a gate
    nobody knows how to open is a frozen run;
  - whatever comes from a host, a graph or an operator is shown as rich.text.Text, never
    parsed as markup (DESIGN §9).

Off a terminal it prints one plain line per meaningful event instead (CI logs, pipes).
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from restore.cli import console
from restore.execution.journal import Event, Journal
from restore.execution.run_fold import Change, HostView, RunFold, StepResult
from restore.inputs.durations import format_duration
from restore.models import StepType

# Colours of the state column: green is back, red stopped, yellow needs a look.
STATE_STYLES = {
    "reconnected": "green",
    "restored": "green",
    "clean": "green",
    "failed": "red",
    "compromised": "red",
    "suspect": "yellow",
    "skipped": "yellow",
    "awaiting_approval": "bold yellow",
    "blocked": "grey50",
}
# Share of an RTO spent past which the header turns amber (then red at 100 %).
AMBER_AT = 0.75
REFRESH_PER_SECOND = 2


@dataclass
class HostRow:
    """One host's line: its place in the plan, and a running step's own news, which is not
    journaled. Everything else on the line is read from the fold when it is drawn."""

    host: str
    service: str
    position: int
    gates: dict[str, str] = field(default_factory=dict)  # approve step key -> its text
    news: str = ""  # the step's latest progress message
    tries: int = 0  # probe tries reported by the step (health)
    news_of: tuple[str, int] | None = None  # (step key, attempt) the news is about
    news_seq: int = 0  # the fold's row count when it came (orders it against journaled notes)


@dataclass(frozen=True)
class Shown:
    """What one row shows at one redraw."""

    state: str
    step: str
    running: StepResult | None
    attempt: int
    last: str
    tries: int
    verdict: str
    approval: str | None  # the full text of the gate it waits at


def shown(row: HostRow, host: HostView | None) -> Shown:
    """A row as the fold tells it, with the step's news when it is about the latest attempt
    and came after the latest journaled note."""
    host = host or HostView(row.host)
    latest = host.latest
    current = (latest.step, latest.attempt) if latest else None
    fresh = row.news_of is not None and row.news_of == current
    last = row.news if fresh and row.news_seq >= host.note_seq else host.note
    running = host.running
    approval = None
    if running is not None and running.type == StepType.APPROVE and not running.dry_run:
        approval = row.gates.get(running.step) or "operator approval"
    return Shown(
        state=host.state,
        step=host.current_step or "",
        running=running,
        attempt=latest.attempt if latest else 1,
        last=last,
        tries=row.tries if fresh else 0,
        verdict=host.verdict or "",
        approval=approval,
    )


def release_command(host: str, state_dir: Path | None) -> str:
    """The exact command that opens a host's approval gate (quoted for a POSIX shell)."""
    words = ["restore", "approve", host, "--by", "NAME"]
    if state_dir is not None:
        words += ["--state-dir", str(state_dir)]
    return " ".join(shlex.quote(w) for w in words)


def _clock(seconds: float) -> str:
    return format_duration(max(0.0, seconds))


class LiveProgress:
    """The engine's Processor for people: a live table on a TTY, one line per event elsewhere."""

    def __init__(
        self,
        quiet: bool = False,
        state_dir: Path | None = None,
        journal: Journal | None = None,
        tty: bool | None = None,
        on_run: Callable[[str], None] | None = None,
    ) -> None:
        self.quiet = quiet
        self.on_run = on_run  # told the run id as soon as the engine has one (the run lock)
        self.tty = console.err.is_terminal if tty is None else tty
        self.state_dir = state_dir
        self.journal = journal
        self.rows: dict[str, HostRow] = {}
        self.fold = RunFold()  # the one fold of the journal, fed row by row
        self._folded_through = 0  # rows already folded from the journal on --resume
        self.live: Live | None = None
        self.started = time.monotonic()
        self.run_id = ""
        self._lock = threading.Lock()
        self._plan: Any = None
        self._incident: datetime | None = None

    # -- Processor ----------------------------------------------------------------------------

    def run_started(self, run_id: str, plan: Any, resumed: bool) -> None:
        from restore.execution.run_state import step_key
        from restore.planning.explain import hosts_start_order

        self.run_id = run_id
        if self.on_run is not None:
            self.on_run(run_id)
        self._plan = plan
        self._incident = plan.graph.incident_declared_at
        order = list(hosts_start_order(plan.simulations[0])) if plan.simulations else []
        order += [h.name for h in plan.hosts if h.name not in order]
        position = {name: n for n, name in enumerate(order, 1)}
        planned = {h.name: h for h in plan.hosts}
        with self._lock:
            for name in order:
                if name not in planned:
                    continue
                host = planned[name]
                gates = {
                    step_key(i, s): str(s.argument or "operator approval")
                    for i, s in enumerate(host.steps, 1)
                    if s.type is StepType.APPROVE
                }
                self.rows[name] = HostRow(name, host.service, position[name], gates)
            if resumed and self.journal is not None:
                self._fold_journal(run_id)
        if self.quiet:
            return
        verb = "resuming" if resumed else "starting"
        console.info(
            f"{verb} run {run_id}: {len(plan.hosts)} host(s), order {' > '.join(plan.order)}"
        )
        if plan.critical_path:
            console.info(
                f"critical path {' > '.join(plan.critical_path)}; "
                f"projected {plan.estimated_duration_s / 3600:.1f} h"
            )
        if self.tty:
            # auto_refresh: rich redraws from its own thread, whatever the steps do.
            self.live = Live(
                self,
                # its own console: the shared one soft-wraps (no wrapping), which would crop a
                # long gate text at the screen's edge instead of wrapping it whole
                console=Console(stderr=True, highlight=False),
                auto_refresh=True,
                refresh_per_second=REFRESH_PER_SECOND,
                transient=False,
            )
            self.live.start()

    def event(self, event: Event) -> None:
        with self._lock:
            if event.seq and event.seq <= self._folded_through:
                return  # folded already, from the journal on --resume
            change = self.fold.apply(event)
            row = self.rows.get(event.host or "")
        # `run_started` is journaled before the view starts: its lines say it already
        if self.quiet or self.live is not None or self._plan is None:
            return
        line = self._line(event, change, row)
        if line is not None:
            console.info(line)

    def step_progress(self, host: str, step: str, message: str) -> None:
        """A running step's own news (a health probe's try, an ansible task)."""
        with self._lock:
            row = self.rows.get(host)
            record = self.fold.view.hosts.get(host)
            if row is None or record is None or record.latest is None:
                return
            if record.current_step != step or shown(row, record).approval is not None:
                return  # an approval's own words are in its gate block, whole
            about = (step, record.latest.attempt)
            if row.news_of != about:
                row.news_of, row.tries = about, 0
            if message.startswith("try "):
                head, _, rest = message.partition(", last: ")
                try:
                    row.tries = int(head.split()[1])
                except (IndexError, ValueError):
                    row.tries = 0
                row.news = rest
            else:
                row.news = message
            row.news_seq = self.fold.view.applied
        if not self.quiet and self.live is None:
            console.info(f"{host} {step}: {message}")

    def run_finished(self, result: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None

    # -- state --------------------------------------------------------------------------------

    def _fold_journal(self, run_id: str) -> None:
        """After --resume: the run's journal so far, so that every host shows its journaled
        state (as `restore status` does) before the first new row comes."""
        assert self.journal is not None
        self.fold = RunFold()  # anew: rows the engine sent before the view started are in it
        for event in self.journal.events(run_id):
            self.fold.apply(event)
            self._folded_through = event.seq

    def _shown(self, row: HostRow) -> Shown:
        return shown(row, self.fold.view.hosts.get(row.host))

    # -- drawing ------------------------------------------------------------------------------

    def __rich__(self) -> RenderableType:
        with self._lock:
            # gates before the table: on a screen too short for every row they stay visible
            return Group(self._header(), *self._gates(), self._table())

    def _header(self) -> Text:
        now = time.monotonic()
        hosts = self.fold.view.hosts
        back = sum(1 for name in self.rows if name in hosts and hosts[name].back)
        text = Text(f"restore run {self.run_id}", style="bold")
        text.append(f"  {_clock(now - self.started)} elapsed  {back}/{len(self.rows)} host(s) back")
        for line in self._rto_lines(now):
            text.append("\n")
            text.append_text(line)
        return text

    def _rto_lines(self, now: float) -> list[Text]:
        """Per priority-1 service: time since the incident (else the run's start) against its
        RTO, amber past 75 %, red past 100 %; 'back' with its time once its hosts are."""
        if self._plan is None:
            return []
        wall = datetime.now(UTC)
        if self._incident is not None:
            origin = "incident"
            spent_before = (wall - self._incident).total_seconds()
        else:
            origin = "run start"
            spent_before = now - self.started
        lines = []
        for svc in self._plan.services:
            if svc.priority != 1:
                continue
            hosts = [
                self.fold.view.hosts.get(h) or HostView(h) for h in svc.hosts if h in self.rows
            ]
            done = bool(hosts) and all(h.back for h in hosts)
            spent = spent_before
            if done:
                last_end = max((h.finished_at or wall) for h in hosts)
                spent = spent_before - (wall - last_end).total_seconds()
            lines.append(_rto_line(svc, spent, done, origin))
        return lines

    def _table(self) -> Table:
        wall = datetime.now(UTC)
        table = Table(expand=False, pad_edge=False)
        for column in ("#", "host", "service", "state", "step", "elapsed / timeout", "note"):
            table.add_column(column, overflow="fold")
        for row in sorted(self.rows.values(), key=lambda r: r.position):
            view = self._shown(row)
            table.add_row(
                str(row.position),
                console.styled(row.host),
                console.styled(row.service),
                console.styled(view.state, STATE_STYLES.get(view.state, "")),
                console.styled(view.step),
                Text(_elapsed(view.running, wall)),
                _note(view),
            )
        return table

    def _gates(self) -> list[Text]:
        """Every waiting gate, whole, with the command that releases it (never cut: it wraps)."""
        blocks = []
        for row in sorted(self.rows.values(), key=lambda r: r.position):
            approval = self._shown(row).approval
            if not approval:
                continue
            block = Text()
            block.append("WAITING ", style="bold yellow")
            block.append(console.styled(row.host, "bold"))
            block.append(": ")
            block.append(console.styled(approval))
            block.append("\n  release with: ")
            block.append(console.styled(release_command(row.host, self.state_dir), "bold"))
            blocks.append(block)
        return blocks

    # -- line mode ----------------------------------------------------------------------------

    def _line(self, event: Event, change: Change, row: HostRow | None) -> str | None:
        """One plain line per row worth a line: every row but a host's intermediate state."""
        approval = self._shown(row).approval if row is not None else None
        if change is Change.STEP_STARTED and approval is not None and row is not None:
            return (
                f"{event.ts[11:19]} {row.host} waiting for approval: {approval}\n"
                f"  release with: {release_command(row.host, self.state_dir)}"
            )
        if change is Change.HOST_STATE:
            return None
        parts = [event.ts[11:19], event.host or "-", event.step or "", event.event]
        message = event.detail.get("state") or event.detail.get("message") or ""
        return " ".join(p for p in parts if p) + (f": {message}" if message else "")


def _rto_line(svc: Any, spent: float, done: bool, origin: str) -> Text:
    line = Text("  ")
    line.append(console.styled(svc.id, "bold"))
    if svc.rto_s:
        share = spent / svc.rto_s
        style = "red" if share >= 1 else "dark_orange" if share >= AMBER_AT else "green"
        what = "back after" if done else "since"
        line.append(f"  {what} {_clock(spent)} ({origin}) / RTO {_clock(svc.rto_s)}", style=style)
        if share >= 1:
            line.append("  RTO MISSED", style="bold red")
    else:
        line.append(f"  {'back after' if done else 'since'} {_clock(spent)} ({origin})")
        line.append("  (no RTO)")
    return line


def _elapsed(running: StepResult | None, wall: datetime) -> str:
    """A running step's time so far, from its journaled start, against its deadline."""
    if running is None or running.started_at is None:
        return ""
    spent = _clock((wall - running.started_at).total_seconds())
    return f"{spent} / {_clock(running.timeout_s)}" if running.timeout_s else spent


def _note(view: Shown) -> Text:
    parts = []
    if view.attempt > 1:
        parts.append(f"attempt {view.attempt}")
    if view.tries:
        parts.append(f"try {view.tries}, last: {view.last}")
    elif view.last:
        parts.append(f"last: {view.last}" if view.running else view.last)
    if view.verdict:
        parts.append(f"verdict {view.verdict}")
    if view.approval is not None:
        parts.append("waiting for approval (above)")
    return console.styled("; ".join(parts))
