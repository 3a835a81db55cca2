"""One host's walk through its steps, in a worker thread of its own.

Each step puts the host in its kind's phase (restore.inputs.step_kinds), runs through the
dispatcher, and its outcome moves the host on: a failure ends the host, a check's verdict
becomes its state (and a verdict other than clean ends it unless a reimage follows), a
reconnect makes it `reconnected`. On --resume the journal decides what runs again: a step
that succeeded or that an operator marked done never does; a started step that is not
idempotent waits for an operator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from restore.execution.engine.dispatch import INTERRUPTED, Dispatcher
from restore.execution.engine.recorder import HostRun, Recorder
from restore.execution.engine.results import HostOutcome
from restore.execution.run_state import DONE, UNFINISHED, HostReplay, facts_after, replay, step_key
from restore.inputs.step_kinds import kind_of
from restore.models import EventKind, HostState, StepSpec, StepType, Verdict


class HostLoop:
    def __init__(self, dispatcher: Dispatcher, recorder: Recorder) -> None:
        self.dispatcher = dispatcher
        self.recorder = recorder

    def run(self, run: HostRun) -> HostOutcome:
        try:
            return self._steps(run)
        except Exception as exc:  # a bug in one host's handling must not abort the others
            self.recorder.set_state(run, HostState.FAILED, reason=f"internal error: {exc}")
            return run.outcome(False, f"internal error: {type(exc).__name__}: {exc}")

    def _decisions(self, run: HostRun) -> HostReplay:
        """Fresh view of the host's journal rows: operator decisions made meanwhile."""
        journal, run_id = self.recorder.journal, self.recorder.run_id
        events = journal.events(run_id, host=run.planned.name)
        return replay(events).get(run.planned.name, HostReplay(run.planned.name))

    def _steps(self, run: HostRun) -> HostOutcome:
        steps = run.planned.steps
        for index, step in enumerate(steps, 1):
            key = step_key(index, step)
            if self.dispatcher.stop.is_set():
                if run.state != HostState.PENDING.value:  # stopped between two of its steps
                    self.recorder.set_state(run, HostState.INTERRUPTED)
                return run.outcome(False, "interrupted")
            view = self._decisions(run)
            if view.host_waived is not None:
                self.recorder.set_state(run, HostState.SKIPPED, **_who(view.host_waived))
                return run.outcome(True, "waived by an operator")
            last = view.last.get(key)
            if last in DONE:
                continue  # succeeded before a crash, or decided by an operator: never again
            if last == "waived":
                self._waived(run, view, step, key)
                continue
            if last in UNFINISHED and not step.idempotent:
                return self._needs_operator(run, index, key)
            ended = self._step(run, steps, index, step, key)
            if ended is not None:
                return ended
        return self._finished(run)

    def _waived(self, run: HostRun, view: HostReplay, step: StepSpec, key: str) -> None:
        decision = view.decision.get(key, {})
        detail = {"waived": True, **_who(decision)}
        self.recorder.record("skipped", host=run.planned, step=key, detail=detail)
        facts_after(step, "skipped", {}, run.facts)

    def _needs_operator(self, run: HostRun, index: int, key: str) -> HostOutcome:
        host = run.planned
        self.recorder.set_state(
            run, HostState.FAILED, reason=f"step {key} did not finish and is not idempotent"
        )
        self.recorder.record(
            EventKind.NEEDS_OPERATOR,
            host=host,
            step=key,
            detail={
                "message": f"step {key} was started and is not idempotent: run "
                f"`restore mark-done {host.name} {index} --by NAME --reason TEXT` if it "
                f"completed, or `restore retry {host.name} {index} ...`, then --resume"
            },
        )
        run.replayed.current_step = key
        return run.outcome(False, f"step {key} needs an operator", True)

    def _step(
        self, run: HostRun, steps: Sequence[StepSpec], index: int, step: StepSpec, key: str
    ) -> HostOutcome | None:
        """Run one step; the host's outcome when this step ends the host, else None."""
        run.replayed.current_step = key
        self.recorder.set_state(run, kind_of(step.type).phase)
        outcome = self.dispatcher.attempts(run, step, key)
        if outcome.status == INTERRUPTED:
            self.recorder.set_state(run, HostState.INTERRUPTED, step=key)
            return run.outcome(False, outcome.message)
        if not outcome.ok:
            self.recorder.set_state(run, HostState.FAILED, reason=outcome.message, step=key)
            return run.outcome(False, outcome.message)
        facts_after(step, outcome.status, outcome.detail, run.facts)
        if step.type is StepType.CHECK and run.facts.verdict is not None:
            verdict = run.facts.verdict
            self.recorder.set_state(run, HostState(verdict.value), verdict=verdict.value)
            if verdict is not Verdict.CLEAN and not _reimage_after(steps, index):
                self.recorder.set_state(
                    run,
                    HostState.FAILED,
                    verdict=verdict.value,
                    reason=f"verdict {verdict.value} and no reimage step follows: "
                    "the host stays quarantined",
                )
                return run.outcome(False, f"{verdict.value}: stays quarantined")
        if step.type is StepType.RECONNECT:
            self.recorder.set_state(run, HostState.RECONNECTED)
        return None

    def _finished(self, run: HostRun) -> HostOutcome:
        """A finished host never stays in the phase of its last step: `reconnected` if one of
        its reconnect steps ran (now or before a resume), else `restored`."""
        done = self._decisions(run).last
        reconnected = any(
            s.type is StepType.RECONNECT and done.get(step_key(i, s)) in DONE - {"skipped"}
            for i, s in enumerate(run.planned.steps, 1)
        )
        self.recorder.set_state(run, HostState.RECONNECTED if reconnected else HostState.RESTORED)
        return run.outcome(True)


def _reimage_after(steps: Sequence[StepSpec], index: int) -> bool:
    return any(s.type is StepType.REIMAGE for s in steps[index:])


def _who(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: detail[k] for k in ("by", "reason") if k in detail}
