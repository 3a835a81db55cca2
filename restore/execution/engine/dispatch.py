"""One step on one host: its attempts, the gates before it, its runner in a thread under a
hard deadline, and the journal rows that open and close each attempt.

In a dry run the step's kind's describer takes the runner's place (restore.execution.runners
.DESCRIBERS, which `Engine(runners=...)` cannot replace): "a dry run touches no host" is the
engine's rule, like the gates, not something each runner must remember.

A hung SSH or WinRM call costs its step's deadline and nothing more: past it, the step's
thread is cut loose (its context abandoned, its transport closed) and the host moves on.
The same cut happens to every running step when the run is stopped by a signal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from restore import logs
from restore.execution import gates
from restore.execution.engine.recorder import HostRun, Recorder
from restore.execution.engine.results import RunOptions
from restore.execution.runners import DESCRIBERS, Runner
from restore.execution.steps.base import (
    FAILED,
    REFUSED,
    SKIPPED,
    SUCCEEDED,
    TIMED_OUT,
    StepContext,
    StepOutcome,
)
from restore.inputs.step_kinds import kind_of
from restore.models import Inventory, StepSpec, StepStatus, StepType
from restore.planning.model import RestorePlan

BACKOFF_S = (2.0, 5.0, 15.0, 30.0)
INTERRUPTED = StepStatus.INTERRUPTED  # a step's ending when the run was stopped under it

log = logs.logger(__name__)


class Dispatcher:
    """Runs steps for every host of one run; knows whether the run was stopped, and by what."""

    def __init__(
        self,
        plan: RestorePlan,
        inventory: Inventory,
        inventory_paths: tuple[str, ...],
        options: RunOptions,
        recorder: Recorder,
        runners: Mapping[StepType, Runner],
        secrets: tuple[str, ...],
    ) -> None:
        self.plan = plan
        self.inventory = inventory
        self.inventory_paths = inventory_paths
        self.options = options
        self.recorder = recorder
        self.runners = runners
        self.secrets = secrets
        self.stop = threading.Event()
        self.interrupted_by: str | None = None  # the signal that stopped the run
        self.ansible_env: dict[str, str] = {}  # the run's prefork server, once started
        self.gates: list[dict[str, str]] = []  # a dry run's: where a real run would stop
        self._contexts: set[StepContext] = set()
        self._lock = threading.Lock()

    def interrupt(self, signal_name: str) -> None:
        """Stop every running step now (each journals its cut as `interrupted`)."""
        self.interrupted_by = signal_name
        self.stop.set()
        with self._lock:
            for ctx in list(self._contexts):
                ctx.abandon()

    def attempts(self, run: HostRun, step: StepSpec, key: str) -> StepOutcome:
        """The step, tried again after a pause while it fails, if idempotent and retried."""
        tries = 1 + (step.retries if step.idempotent else 0)
        outcome = StepOutcome(FAILED, {"message": "not run"})
        for attempt in range(1, tries + 1):
            outcome = self._execute(run, step, key, attempt)
            if outcome.ok or outcome.status in {REFUSED, INTERRUPTED} or attempt == tries:
                return outcome
            pause = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]
            if self.stop.wait(pause):  # stopped while waiting to try again
                return StepOutcome(INTERRUPTED, {**outcome.detail, "signal": self.interrupted_by})
        return outcome

    def _execute(self, run: HostRun, step: StepSpec, key: str, attempt: int) -> StepOutcome:
        host = run.planned
        timeout = step.timeout_s or kind_of(step.type).timeout_s
        started = self.recorder.record(
            "started",
            host=host,
            step=key,
            detail={
                "type": step.type.value,
                "label": step.label,
                "attempt": attempt,
                "timeout_s": timeout,
                "dry_run": self.options.dry_run,
            },
        )
        ctx = self._context(run, step, key, timeout, started.seq)
        log.info(
            "%s: step %s (%s) attempt %d, deadline %.0fs",
            host.name,
            key,
            step.type.value,
            attempt,
            timeout,
        )
        # DESIGN §5's gates, whatever runner this step type was given (restore.execution.gates).
        why_not = gates.refusal(step, run.facts, host.name, self.options.dry_run)
        if why_not is not None:
            verdict = run.facts.verdict.value if run.facts.verdict else None
            outcome = StepOutcome(REFUSED, {"message": why_not, "verdict": verdict})
        else:
            outcome = self._with_deadline(ctx, timeout)
        return self._close(run, key, attempt, outcome)

    def _close(self, run: HostRun, key: str, attempt: int, outcome: StepOutcome) -> StepOutcome:
        """Journal how the attempt ended (a skipped step counts as succeeded)."""
        host = run.planned
        status = outcome.status if outcome.status != SKIPPED else SUCCEEDED
        log.log(
            logging.INFO if status == SUCCEEDED else logging.WARNING,
            "%s: step %s %s %s",
            host.name,
            key,
            status,
            outcome.detail.get("message", ""),
        )
        detail = {"attempt": attempt, **outcome.detail}
        self.recorder.record(status, host=host, step=key, detail=detail)
        if self.options.dry_run and detail.get("gate"):
            with self._lock:
                self.gates.append({"host": host.name, "step": key, "gate": str(detail["gate"])})
        return StepOutcome(status, detail, outcome.verdict)

    def _context(
        self, run: HostRun, step: StepSpec, key: str, timeout: float, start_seq: int
    ) -> StepContext:
        host = run.planned
        journal = self.recorder.journal
        run_id = self.recorder.run_id
        node = host.bound.execution_node
        return StepContext(
            run_id=run_id,
            host=host.bound.spec,
            service=host.service,
            step=step,
            step_key=key,
            graph=self.plan.graph,
            inventory_paths=self.inventory_paths,
            state_dir=journal.state_dir,
            run_dir=journal.state_dir / "runs" / run_id,
            journal=journal,
            facts=replace(run.facts),
            secrets=self.secrets,
            assume_yes=self.options.assume_yes,
            winrm_insecure=self.options.winrm_insecure,
            timeout_s=timeout,
            start_seq=start_seq,
            ansible_env=self.ansible_env,
            progress=self._progress_sink(host.name, key),
            execution_node=self.inventory.host(node) if node else None,
        )

    def _progress_sink(self, host: str, key: str) -> Callable[[str], None]:
        """A step's own news (a health probe's try, an ansible task) for processors that
        draw it (the live view); not journaled: it is chatter, not state."""
        sink = getattr(self.recorder.processor, "step_progress", None)
        if sink is None:
            return lambda _message: None
        return lambda message: sink(host, key, message)

    def _with_deadline(self, ctx: StepContext, timeout: float) -> StepOutcome:
        """Run the step in its own thread; past the deadline, cut it loose and move on."""
        # (outcome, whether the step had been cancelled when it returned): a step that
        # returns because it was cancelled (an approval gate, say) did not end on its own,
        # and what it says ("no approval before the deadline") is not what happened.
        box: list[tuple[StepOutcome, bool]] = []

        act = self._function_for(ctx.step.type)

        def target() -> None:
            try:
                outcome = act(ctx)
            except Exception as exc:  # a step's bug is this host's failure, nobody else's
                outcome = StepOutcome(FAILED, {"error": f"{type(exc).__name__}: {exc}"})
            box.append((outcome, ctx.cancel.is_set()))

        thread = threading.Thread(
            target=target, name=f"step-{ctx.host.name}-{ctx.step_key}", daemon=True
        )
        with self._lock:
            self._contexts.add(ctx)
        thread.start()
        deadline = time.monotonic() + timeout
        try:
            while thread.is_alive() and time.monotonic() < deadline and not self.stop.is_set():
                thread.join(min(0.25, max(0.0, deadline - time.monotonic())))
        finally:
            with self._lock:
                self._contexts.discard(ctx)
        if box and not box[0][1]:
            return box[0][0]
        ctx.abandon()
        thread.join(2.0)  # a cooperative step returns at once once cancelled
        return self._cut(timeout)

    def _function_for(self, step_type: StepType) -> Runner:
        """What carries the step out: its kind's describer in a dry run (never the runner,
        whatever runners this engine was given), else its runner."""
        if self.options.dry_run:
            return DESCRIBERS[step_type]
        return self.runners[step_type]

    def _cut(self, timeout: float) -> StepOutcome:
        """How a step that did not return in time ended: stopped by a signal, or timed out."""
        if self.stop.is_set():
            name = self.interrupted_by or "SIGINT"
            return StepOutcome(INTERRUPTED, {"message": f"interrupted by {name}", "signal": name})
        detail: dict[str, Any] = {
            "message": f"step exceeded its {timeout:.0f}s deadline",
            "timeout_s": timeout,
        }
        return StepOutcome(TIMED_OUT, detail)
