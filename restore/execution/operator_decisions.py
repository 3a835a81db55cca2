"""Operator decisions checked before anything is journaled (DESIGN §5).

An approval, a mark-done, a retry or a skip is evidence: investigators read it in the report
as a person's decision. So each is checked against the run it names *before* it is written,
and a refused one writes nothing at all:

- **who**: ``--by`` is a non-empty name for every decision; ``--reason`` is a non-empty text
  for mark-done, retry and skip. The OS user and the terminal are journaled beside them.
- **which run**: the live run (the one whose process holds the state dir's run lock). When
  a run is live, a decision for any other run is refused. When none is live, an approval is
  refused (no gate is waiting), and mark-done / retry / skip go to the run named by ``--run``
  (default: the latest) only if ``--resume`` would continue it: it stopped for an operator
  (needs_operator), was interrupted (a signal, or its process died), or failed.
- **which host and step**: the host is in the run; the step is one of that host's steps; an
  approval goes to a host waiting at an approve gate now (or, named with its step key, to
  an approve step still ahead of it); mark-done and skip need a step not already done,
  retry a step that did not finish; none touches a step the live run is running right now.

Pure over the journal's events and the lock's holder, so it is tested without processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from restore.errors import InputError
from restore.execution.journal import Event, Journal, RunRecord
from restore.execution.run_state import DONE, UNFINISHED, HostReplay, replay
from restore.execution.runlock import LockHolder, os_user, terminal
from restore.models import RESUMABLE_RUN_STATES, HostState, RunState, StepType

# What `--resume` continues, so what a decision may still change when no run is live.
RESUMABLE = RESUMABLE_RUN_STATES
FINISHED_HOST = frozenset(
    {HostState.RECONNECTED.value, HostState.SKIPPED.value, "restored"}  # restored: see DESIGN §5
)


@dataclass(frozen=True)
class Liveness:
    """A run's state as it really is: the journal's word, corrected by the run lock."""

    state: str  # the journal's state, except "running" without a live process: "interrupted"
    live: bool
    last_event_at: str | None


def liveness(record: RunRecord, events: Sequence[Event], holder: LockHolder | None) -> Liveness:
    last = events[-1].ts if events else None
    # A holder with no run id yet is a new run this instant: only a running record can be it.
    live = holder is not None and (
        holder.run_id == record.run_id
        or (holder.run_id is None and record.state == RunState.RUNNING)
    )
    if record.state == RunState.RUNNING and not live:
        return Liveness(RunState.INTERRUPTED, False, last)
    return Liveness(record.state if not live else RunState.RUNNING, live, last)


def live_run_id(journal: Journal, holder: LockHolder | None) -> str | None:
    """The run the live process is executing, or None (no process, or it has no run yet)."""
    if holder is None:
        return None
    if holder.run_id:
        return holder.run_id
    latest = journal.run()
    # A new run learns its id a moment after taking the lock: its record is the latest.
    return latest.run_id if latest is not None and latest.state == RunState.RUNNING else None


def decision_run(
    journal: Journal, holder: LockHolder | None, run_id: str | None, approval: bool
) -> str:
    """The run a decision goes to, or InputError (exit 2) saying why none may."""
    live = live_run_id(journal, holder)
    if holder is not None:
        if live is None:
            raise InputError(
                f"{holder.describe()} and has no run id yet",
                key="--run",
                hint="try again in a moment",
            )
        if run_id is not None and run_id != live:
            raise InputError(
                f"run {run_id} is not the live run: {holder.describe()}",
                key="--run",
                hint=f"decide for the live run (--run {live}), or stop it first",
            )
        return live
    if approval:
        raise InputError(
            f"no run is in progress in {journal.state_dir}: an approval only releases a gate "
            "that a live run is waiting at",
            key="--run",
            hint="see `restore status`; continue a stopped run with `restore run ... --resume`",
        )
    record = journal.run(run_id)
    if record is None:
        where = f"run '{run_id}'" if run_id else "any run"
        raise InputError(f"no {where} in {journal.state_dir}", key="--run")
    state = liveness(record, (), None).state
    if state not in RESUMABLE:
        raise InputError(
            f"run {record.run_id} is {state} and no run is in progress: nothing is left to "
            "decide in it",
            key="--run",
            hint="decisions go to a live run, or to one that stopped for an operator, was "
            "interrupted or failed (then `restore run ... --resume`)",
        )
    return record.run_id


def check_who(by: str, reason: str | None, reason_required: bool) -> tuple[str, str | None]:
    """Stripped (by, reason); InputError when a required one is blank."""
    name = by.strip()
    if not name:
        raise InputError("--by must name who decides (it is journaled)", key="--by")
    text = (reason or "").strip() or None
    if reason_required and text is None:
        raise InputError("--reason must say why (it is journaled)", key="--reason")
    return name, text


def who_detail(by: str, reason: str | None) -> dict[str, str | None]:
    """What a decision journals about who made it, besides the step key in its row."""
    return {"by": by, "reason": reason, "os_user": os_user(), "terminal": terminal()}


def host_of(events: Sequence[Event], run_id: str, host: str) -> HostReplay:
    hosts = replay(events)
    if host not in hosts:
        from restore.inputs.graph import did_you_mean

        raise InputError(
            f"host '{host}' is not in run {run_id}",
            hint=did_you_mean(host, list(hosts)) or "see `restore status`",
        )
    return hosts[host]


def waiting_at_gate(events: Sequence[Event]) -> dict[str, str]:
    """host -> step key of the approve gate it is waiting at now (started, not ended)."""
    return {
        name: record.running.step
        for name, record in replay(events).items()
        if record.running is not None and record.running.type == StepType.APPROVE
    }


def check_approval(
    events: Sequence[Event],
    run_id: str,
    host: str,
    step: str | None,
    approve_steps: Sequence[str],
) -> str:
    """The approve step key an approval of `host` releases, or InputError naming who waits.

    `approve_steps` are the host's approve step keys in its plan (for a gate named ahead).
    """
    record = host_of(events, run_id, host)
    waiting = waiting_at_gate(events)
    if step is None:
        if host in waiting:
            return waiting[host]
        who = ", ".join(f"{h} ({k})" for h, k in sorted(waiting.items())) or "none"
        raise InputError(
            f"{host} is not waiting at an approve gate in run {run_id}; waiting now: {who}",
            hint="to approve a gate ahead of time, name it: --step KEY",
        )
    if step not in approve_steps:
        raise InputError(
            f"{host} has no approve step '{step}' in run {run_id}",
            key="--step",
            hint="its approve steps: " + (", ".join(approve_steps) or "none"),
        )
    if record.last.get(step) in DONE or record.state in FINISHED_HOST:
        raise InputError(f"{host}'s step {step} is already done in run {run_id}", key="--step")
    return step


def check_step_decision(
    kind: str, record: HostReplay, run_id: str, key: str | None, live: bool
) -> None:
    """mark-done / retry / skip of `key` (None: skip the whole host) make sense now."""
    if key is None:
        if record.state in FINISHED_HOST:
            raise InputError(f"{record.host} is already {record.state} in run {run_id}")
        return
    last = record.last.get(key)
    if live and last == "started":
        raise InputError(
            f"{record.host}'s step {key} is running now in run {run_id}",
            hint="decide once it ends, or stop the run first",
        )
    if kind in {"mark-done", "skip"} and last in DONE:
        raise InputError(f"{record.host}'s step {key} is already {last} in run {run_id}")
    if kind == "retry" and last not in UNFINISHED:
        state = last or "not started"
        raise InputError(
            f"{record.host}'s step {key} is {state} in run {run_id}: there is nothing to retry",
            hint="retry is for a step that was started and did not finish",
        )
