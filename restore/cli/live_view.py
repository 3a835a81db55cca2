"""The crisis cell's screen during `restore run`: a live table that never freezes.

Why it is built this way:
  - the table is a renderable (`__rich__`) that rich's Live redraws on its own timer
    (auto refresh); every elapsed time is computed when it is drawn, from monotonic start
    times kept at event time. A step that runs for ten minutes without a word (a health probe,
    an approval) still shows its clock moving;
  - rows follow the start order the engine follows (restore.planning.explain), so the screen, the
    plan's "#" column and the runbook agree;
  - after `--resume` the rows are seeded from the journal's fold (restore.execution.run_state), so a
    host that finished before the crash shows `reconnected`, as `restore status` says;
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
from restore.inputs.durations import format_duration
from restore.models import SUCCESSFUL_HOST_STATES, StepType

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
BACK_STATES = SUCCESSFUL_HOST_STATES
ENDED_STATES = BACK_STATES | {"failed", "blocked"}
# Share of an RTO spent past which the header turns amber (then red at 100 %).
AMBER_AT = 0.75
REFRESH_PER_SECOND = 2


@dataclass
class HostRow:
    """One host's line, as the events told it. Times are time.monotonic() values."""

    host: str
    service: str
    position: int
    state: str = "pending"
    step: str = ""
    step_type: str = ""
    step_started: float | None = None
    timeout_s: float | None = None
    attempt: int = 1
    last: str = ""  # the step's latest progress or failure message
    tries: int = 0  # probe tries reported by the step (health)
    verdict: str = ""
    approval: str | None = None  # the full text of the gate it waits at
    ended_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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
        self.live: Live | None = None
        self.started = time.monotonic()
        self.run_id = ""
        self._lock = threading.Lock()
        self._plan: Any = None
        self._steps: dict[str, dict[str, Any]] = {}  # host -> step key -> StepSpec
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
                self.rows[name] = HostRow(name, host.service, position[name])
                self._steps[name] = {step_key(i, s): s for i, s in enumerate(host.steps, 1)}
            if resumed and self.journal is not None:
                self._seed_from_journal(run_id)
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
            row = self.rows.get(event.host or "")
            if row is not None:
                self._apply(row, event)
        # `run_started` is journaled before the view starts: its lines say it already
        if self.quiet or self.live is not None or self._plan is None:
            return
        line = self._line(event, row)
        if line is not None:
            console.info(line)

    def step_progress(self, host: str, step: str, message: str) -> None:
        """A running step's own news (a health probe's try, an ansible task)."""
        with self._lock:
            row = self.rows.get(host)
            if row is None or row.step != step or row.approval is not None:
                return  # an approval's own words are in its gate block, whole
            if message.startswith("try "):
                head, _, rest = message.partition(", last: ")
                try:
                    row.tries = int(head.split()[1])
                except (IndexError, ValueError):
                    row.tries = 0
                row.last = rest
            else:
                row.last = message
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

    def _seed_from_journal(self, run_id: str) -> None:
        """After --resume: every host's journaled state, as `restore status` shows it."""
        from restore.execution.run_state import replay

        assert self.journal is not None
        for name, record in replay(self.journal.events(run_id)).items():
            row = self.rows.get(name)
            if row is None:
                continue
            row.state = record.state
            row.step = record.current_step or ""
            row.verdict = record.verdict or ""
            if record.state in ENDED_STATES:
                row.ended_at = time.monotonic()

    def _apply(self, row: HostRow, event: Event) -> None:
        now = time.monotonic()
        detail = event.detail
        if event.event == "state":
            row.state = str(detail.get("state", row.state))
            if row.state in ENDED_STATES:
                row.ended_at = now
                row.approval = None
            reason = detail.get("reason")
            if reason:
                row.last = str(reason)
        elif event.event == "started":
            row.step = event.step or ""
            row.step_type = str(detail.get("type", ""))
            row.step_started = now
            row.timeout_s = _number(detail.get("timeout_s"))
            row.attempt = int(_number(detail.get("attempt")) or 1)
            row.tries = 0
            if row.attempt == 1:
                row.last = ""
            row.approval = None
            if row.step_type == StepType.APPROVE.value and not detail.get("dry_run"):
                spec = self._steps.get(row.host, {}).get(row.step)
                text = getattr(spec, "argument", None)
                row.approval = str(text) if text else "operator approval"
        elif event.event in {"succeeded", "failed", "timed_out", "refused", "skipped"}:
            row.step_started = None
            row.approval = None
            message = detail.get("message") or detail.get("error")
            if event.event != "succeeded" and message:
                row.last = str(message)
        if detail.get("verdict"):
            row.verdict = str(detail["verdict"])

    # -- drawing ------------------------------------------------------------------------------

    def __rich__(self) -> RenderableType:
        with self._lock:
            # gates before the table: on a screen too short for every row they stay visible
            return Group(self._header(), *self._gates(), self._table())

    def _header(self) -> Text:
        now = time.monotonic()
        rows = list(self.rows.values())
        back = sum(1 for r in rows if r.state in BACK_STATES)
        text = Text(f"restore run {self.run_id}", style="bold")
        text.append(f"  {_clock(now - self.started)} elapsed  {back}/{len(rows)} host(s) back")
        for line in self._rto_lines(now):
            text.append("\n")
            text.append_text(line)
        return text

    def _rto_lines(self, now: float) -> list[Text]:
        """Per priority-1 service: time since the incident (else the run's start) against its
        RTO, amber past 75 %, red past 100 %; 'back' with its time once its hosts are."""
        if self._plan is None:
            return []
        if self._incident is not None:
            origin = "incident"
            spent_before = (datetime.now(UTC) - self._incident).total_seconds()
        else:
            origin = "run start"
            spent_before = now - self.started
        lines = []
        for svc in self._plan.services:
            if svc.priority != 1:
                continue
            hosts = [self.rows[h] for h in svc.hosts if h in self.rows]
            done = bool(hosts) and all(r.state in BACK_STATES for r in hosts)
            spent = spent_before
            if done:
                last_end = max((r.ended_at or now) for r in hosts)
                spent = spent_before - (now - last_end)
            line = Text("  ")
            line.append(console.styled(svc.id, "bold"))
            if svc.rto_s:
                share = spent / svc.rto_s
                style = "red" if share >= 1 else "dark_orange" if share >= AMBER_AT else "green"
                what = "back after" if done else "since"
                line.append(
                    f"  {what} {_clock(spent)} ({origin}) / RTO {_clock(svc.rto_s)}", style=style
                )
                if share >= 1:
                    line.append("  RTO MISSED", style="bold red")
            else:
                line.append(f"  {'back after' if done else 'since'} {_clock(spent)} ({origin})")
                line.append("  (no RTO)")
            lines.append(line)
        return lines

    def _table(self) -> Table:
        now = time.monotonic()
        table = Table(expand=False, pad_edge=False)
        for column in ("#", "host", "service", "state", "step", "elapsed / timeout", "note"):
            table.add_column(column, overflow="fold")
        for row in sorted(self.rows.values(), key=lambda r: r.position):
            table.add_row(
                str(row.position),
                console.styled(row.host),
                console.styled(row.service),
                console.styled(row.state, STATE_STYLES.get(row.state, "")),
                console.styled(row.step),
                Text(self._elapsed(row, now)),
                self._note(row),
            )
        return table

    @staticmethod
    def _elapsed(row: HostRow, now: float) -> str:
        if row.step_started is None:
            return ""
        spent = _clock(now - row.step_started)
        return f"{spent} / {_clock(row.timeout_s)}" if row.timeout_s else spent

    @staticmethod
    def _note(row: HostRow) -> Text:
        parts = []
        if row.attempt > 1:
            parts.append(f"attempt {row.attempt}")
        if row.tries:
            parts.append(f"try {row.tries}, last: {row.last}")
        elif row.last:
            parts.append(f"last: {row.last}" if row.step_started else row.last)
        if row.verdict:
            parts.append(f"verdict {row.verdict}")
        if row.approval is not None:
            parts.append("waiting for approval (above)")
        return console.styled("; ".join(parts))

    def _gates(self) -> list[Text]:
        """Every waiting gate, whole, with the command that releases it (never cut: it wraps)."""
        waiting = [r for r in sorted(self.rows.values(), key=lambda r: r.position) if r.approval]
        blocks = []
        for row in waiting:
            block = Text()
            block.append("WAITING ", style="bold yellow")
            block.append(console.styled(row.host, "bold"))
            block.append(": ")
            block.append(console.styled(row.approval or ""))
            block.append("\n  release with: ")
            block.append(console.styled(release_command(row.host, self.state_dir), "bold"))
            blocks.append(block)
        return blocks

    # -- line mode ----------------------------------------------------------------------------

    def _line(self, event: Event, row: HostRow | None) -> str | None:
        if event.event == "started" and row is not None and row.approval is not None:
            return (
                f"{event.ts[11:19]} {row.host} waiting for approval: {row.approval}\n"
                f"  release with: {release_command(row.host, self.state_dir)}"
            )
        if event.event == "state" and event.detail.get("state") not in {
            "failed",
            "blocked",
            "reconnected",
            "restored",
            "skipped",
        }:
            return None
        parts = [event.ts[11:19], event.host or "-", event.step or "", event.event]
        message = event.detail.get("state") or event.detail.get("message") or ""
        return " ".join(p for p in parts if p) + (f": {message}" if message else "")


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
