"""Execute a RestorePlan: host state machine, gates, deadlines, scheduling, resume.

Shape of a run:
- the one scheduler (restore.planning.scheduling) decides which host starts next: effective priority
  first, no wave barriers, a global max_parallel and each service's own;
- each started host runs its steps in order in a worker thread; each step runs in its own
  thread under a hard deadline, so a hung SSH/WinRM call costs its deadline and nothing more;
- every state change is a journal row; progress is reported to a Processor (the CLI's live
  table) from those same rows;
- a failed host is data: its service fails, the scheduler blocks every dependent service
  (Airflow's upstream_failed) and independent branches go on;
- `resume=True` continues the latest run from its journal: succeeded steps never run again,
  a started-but-unfinished step runs again only if idempotent, else an operator decides.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from restore import logs
from restore.ansible.prefork.service import PreforkAnsible
from restore.errors import InputError, Interrupted, StopSignal
from restore.execution import gates
from restore.execution.journal import Event, Journal
from restore.execution.run_snapshot import (
    check_resumed_inventories,
    graph_document,
    inventory_record,
    plan_hosts,
    resolved_inventories,
)
from restore.execution.run_state import (
    DONE,
    UNFINISHED,
    HostReplay,
    facts_after,
    replay,
    replay_facts,
    step_key,
)
from restore.execution.steps import RUNNERS
from restore.execution.steps.base import (
    FAILED,
    REFUSED,
    SKIPPED,
    SUCCEEDED,
    TIMED_OUT,
    HostFacts,
    StepContext,
    StepOutcome,
)
from restore.models import (
    SUCCESSFUL_HOST_STATES,
    EventKind,
    HostState,
    Inventory,
    RunState,
    StepSpec,
    StepStatus,
    StepType,
    Verdict,
)
from restore.planning.model import PlannedHost, RestorePlan
from restore.planning.scheduling import SchedJob, SchedService, Scheduler

# Hard deadlines when the graph gives none. Approval waits for people: long, but not forever.
DEFAULT_TIMEOUTS_S: dict[StepType, float] = {
    StepType.EVIDENCE: 3600,
    StepType.CHECK: 1800,
    StepType.REIMAGE: 3600,
    StepType.ANSIBLE: 3600,
    StepType.SSH: 600,
    StepType.WINRM: 600,
    StepType.HEALTH: 600,
    StepType.APPROVE: 24 * 3600,
    StepType.RECONNECT: 600,
    StepType.QUARANTINE: 600,
    StepType.DIRECTORY: 1800,
}
STATE_OF_STEP: dict[StepType, HostState] = {
    StepType.QUARANTINE: HostState.QUARANTINED,
    StepType.EVIDENCE: HostState.COLLECTING_EVIDENCE,
    StepType.CHECK: HostState.CHECKING,
    StepType.REIMAGE: HostState.REIMAGING,
    StepType.ANSIBLE: HostState.REBUILDING,
    StepType.SSH: HostState.REBUILDING,
    StepType.WINRM: HostState.REBUILDING,
    StepType.HEALTH: HostState.VERIFYING,
    StepType.APPROVE: HostState.AWAITING_APPROVAL,
    StepType.RECONNECT: HostState.VERIFYING,
    StepType.DIRECTORY: HostState.REBUILDING,
}
BACKOFF_S = (2.0, 5.0, 15.0, 30.0)
# After a stop signal: how long hosts get to journal their cut steps before the run ends.
INTERRUPT_GRACE_S = 10.0
INTERRUPTED = StepStatus.INTERRUPTED  # a step's ending when the run was stopped under it


log = logs.logger(__name__)


class Processor(Protocol):
    """Progress sink (Nornir's idea): the engine reports, the CLI draws. No I/O required."""

    def run_started(self, run_id: str, plan: RestorePlan, resumed: bool) -> None: ...

    def event(self, event: Event) -> None: ...

    def run_finished(self, result: RunResult) -> None: ...


class NullProcessor:
    def run_started(self, run_id: str, plan: RestorePlan, resumed: bool) -> None:
        return None

    def event(self, event: Event) -> None:
        return None

    def run_finished(self, result: RunResult) -> None:
        return None


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    max_parallel: int = 1
    assume_yes: bool = False
    resume: bool = False
    winrm_insecure: bool = False
    run_id: str | None = None  # resume this run (default: the latest)


@dataclass(frozen=True)
class HostOutcome:
    host: str
    service: str
    state: str
    ok: bool
    verdict: str | None = None
    step: str | None = None
    message: str = ""
    needs_operator: bool = False


@dataclass(frozen=True)
class RunResult:
    run_id: str
    state: str  # succeeded | failed | needs_operator | interrupted
    hosts: tuple[HostOutcome, ...]
    head_hash: str
    dry_run: bool = False
    # a dry run's summary: where a real run would stop (approvals, reconnect-needs-clean...)
    gates: tuple[dict[str, str], ...] = ()

    @property
    def exit_code(self) -> int:
        return {RunState.SUCCEEDED: 0, RunState.INTERRUPTED: 130}.get(RunState(self.state), 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "state": self.state,
            "dry_run": self.dry_run,
            "head_hash": self.head_hash,
            "gates": [dict(g) for g in self.gates],
            "hosts": [
                {
                    "host": h.host,
                    "service": h.service,
                    "state": h.state,
                    "step": h.step,
                    "verdict": h.verdict,
                    "message": h.message,
                }
                for h in self.hosts
            ],
        }


def graph_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class _HostRun:
    planned: PlannedHost
    replayed: HostReplay
    facts: HostFacts
    state: str = HostState.PENDING.value


class Engine:
    def __init__(
        self,
        plan: RestorePlan,
        inventory: Inventory,
        inventory_paths: str | Path | Sequence[str | Path],  # every -i, in order
        journal: Journal,
        options: RunOptions,
        processor: Processor | None = None,
        runners: Mapping[StepType, Callable[[StepContext], StepOutcome]] | None = None,
        prefork: PreforkAnsible | None = None,
    ) -> None:
        self.plan = plan
        # Tests replace a step type here to provoke verdicts they cannot plant for real.
        self.runners = {**RUNNERS, **(runners or {})}
        self.inventory = inventory
        self.inventory_paths = resolved_inventories(inventory_paths)
        self.journal = journal
        self.options = options
        self.processor: Processor = processor or NullProcessor()
        self.secrets = tuple(v for h in inventory.hosts for _, v in h.secret_vars if v)
        journal.add_secrets(self.secrets)
        logs.add_secrets(self.secrets)
        self._stop = threading.Event()
        self._interrupted_by: str | None = None  # the signal that stopped the run
        self._contexts: set[StepContext] = set()
        self._ctx_lock = threading.Lock()
        self.run_id = ""
        self._ansible_env: dict[str, str] = {}
        self._gates: list[dict[str, str]] = []
        # Started by the caller before the inventory loads, so it is warm by the first step;
        # without one the run starts (and stops) its own.
        self._prefork = prefork

    # -- journal ------------------------------------------------------------------------------

    def _record(
        self,
        event: str,
        *,
        host: PlannedHost | None = None,
        step: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Event:
        row = self.journal.append(
            self.run_id,
            event,
            host=host.name if host else None,
            service=host.service if host else None,
            step=step,
            detail=detail,
        )
        log.debug(
            "journal %s %s %s %s %s",
            row.seq,
            row.event,
            row.host or "-",
            row.step or "-",
            row.detail,
        )
        self.processor.event(row)
        return row

    def _set_state(self, run: _HostRun, state: HostState | str, **detail: Any) -> None:
        value = HostState(state).value
        if value == run.state and not detail:
            return
        run.state = value
        self._record("state", host=run.planned, detail={"state": value, **detail})

    # -- run ----------------------------------------------------------------------------------

    def _open_run(self) -> tuple[bool, dict[str, HostReplay]]:
        digest = graph_hash(self.plan.graph.path)
        if self.options.resume:
            record = self.journal.run(self.options.run_id)
            if record is None:
                raise InputError("no run to resume in this state dir", key="--resume")
            if bool(record.options.get("dry_run")) != self.options.dry_run:
                # a dry run's steps are journaled as done: resumed for real, nothing would run
                was = "a dry run" if record.options.get("dry_run") else "a real run"
                raise InputError(
                    f"run {record.run_id} was {was}; --resume continues it only as one",
                    key="--resume",
                    hint="start a new run without --resume"
                    if record.options.get("dry_run")
                    else "resume it without --dry-run",
                )
            if record.graph_hash != digest:
                raise InputError(
                    f"the graph changed since run {record.run_id} started; a resumed run must "
                    "follow the plan it began with",
                    file=str(self.plan.graph.path),
                    key="--resume",
                    hint="restore the original graph, or start a new run without --resume",
                )
            check_resumed_inventories(
                self.journal.events(record.run_id), record.run_id, self.inventory_paths
            )
            self.run_id = record.run_id
            self.journal.set_run_state(self.run_id, RunState.RUNNING)
            # This process holds the state dir's run lock, so a run still marked running
            # is one that died (SIGKILL, power loss): it was interrupted.
            previous = RunState.INTERRUPTED if record.state == RunState.RUNNING else record.state
            self._record("run_resumed", detail={"previous_state": previous})
            return True, replay(self.journal.events(self.run_id))
        graph_path = str(self.plan.graph.path.resolve())
        self.run_id = self.journal.create_run(
            graph_path=graph_path,
            graph_hash=digest,
            inventory=" + ".join(self.inventory_paths),
            options={
                "dry_run": self.options.dry_run,
                "max_parallel": self.options.max_parallel,
                "assume_yes": self.options.assume_yes,
            },
        )
        self._record(
            "run_started",
            # Everything later commands need, so that none re-reads the graph file
            # (restore.execution.run_snapshot): the graph as data, the plan with its step keys.
            detail={
                "graph": graph_path,
                "graph_name": self.plan.graph.name,
                "graph_sha256": digest,
                "graph_document": graph_document(self.plan.graph),
                "incident_at": (
                    self.plan.graph.incident_declared_at.isoformat()
                    if self.plan.graph.incident_declared_at
                    else None
                ),
                **inventory_record(self.inventory_paths),
                "dry_run": self.options.dry_run,
                "max_parallel": self.options.max_parallel,
                "order": list(self.plan.order),
                "critical_path": list(self.plan.critical_path),
                "hosts": plan_hosts(self.plan),
            },
        )
        return False, {}

    def run(self) -> RunResult:
        resumed, replayed = self._open_run()
        run_log = logs.attach_run_log(self.journal.state_dir / "runs" / self.run_id / "restore.log")
        try:
            return self._run_opened(resumed, replayed)
        finally:
            logs.detach(run_log)

    def _run_opened(self, resumed: bool, replayed: dict[str, HostReplay]) -> RunResult:
        log.info(
            "run %s %s: %d host(s)",
            self.run_id,
            "resumed" if resumed else "started",
            len(self.plan.hosts),
        )
        self.processor.run_started(self.run_id, self.plan, resumed)
        runs = {
            h.name: _HostRun(
                planned=h,
                replayed=replayed.get(h.name, HostReplay(h.name, h.service)),
                facts=replay_facts(h.steps, self.journal.events(self.run_id, host=h.name), h.name)
                if resumed
                else HostFacts(),
            )
            for h in self.plan.hosts
        }
        for run in runs.values():
            run.state = run.replayed.state
        scheduler = Scheduler(
            [
                SchedService(
                    s.id, s.priority, s.effective_priority, s.depends_on, s.max_parallel, s.hosts
                )
                for s in self.plan.services
            ],
            [SchedJob(h.name, h.service, h.duration_s) for h in self.plan.hosts],
            self.options.max_parallel,
        )
        outcomes: dict[str, HostOutcome] = {}
        for name, run in runs.items():  # finished in an earlier attempt: never run again
            if run.state in SUCCESSFUL_HOST_STATES:
                outcomes[name] = HostOutcome(
                    name, run.planned.service, run.state, True, run.replayed.verdict
                )
                scheduler.mark_finished(name, ok=True)
        state = RunState.SUCCEEDED
        try:
            with self._prefork_for_run() as prefork:
                self._ansible_env = prefork.environment()
                self._drive(scheduler, runs, outcomes)
        except KeyboardInterrupt as exc:
            # _drive has already stopped every host and let them journal their cut steps.
            name = self._interrupted_by or _signal_name(exc)
            self._record(
                "run_interrupted", detail={"signal": name, "message": f"interrupted by {name}"}
            )
            self.journal.set_run_state(self.run_id, RunState.INTERRUPTED)
            raise Interrupted(
                f"run {self.run_id} interrupted by {name}; continue it with --resume"
            ) from None
        for name, failed_service in scheduler.blocked.items():
            if name not in outcomes:
                run = runs[name]
                self._set_state(run, HostState.BLOCKED, reason=f"service {failed_service} failed")
                outcomes[name] = HostOutcome(
                    name,
                    run.planned.service,
                    HostState.BLOCKED.value,
                    False,
                    message=f"blocked: service {failed_service} failed",
                )
        ordered = tuple(outcomes[h.name] for h in self.plan.hosts if h.name in outcomes)
        if any(o.needs_operator for o in ordered):
            state = RunState.NEEDS_OPERATOR
        elif not all(o.ok for o in ordered):
            state = RunState.FAILED
        self.journal.set_run_state(self.run_id, state)
        gates = tuple(sorted(self._gates, key=lambda g: self.plan.hosts_order.index(g["host"])))
        self._record(
            "run_finished",
            detail={
                "state": state,
                "hosts": {o.host: o.state for o in ordered},
                "dry_run": self.options.dry_run,
                **({"gates": list(gates)} if self.options.dry_run else {}),
            },
        )
        result = RunResult(
            self.run_id, state, ordered, self.journal.head_hash(), self.options.dry_run, gates
        )
        self.processor.run_finished(result)
        return result

    def _drive(
        self, scheduler: Scheduler, runs: dict[str, _HostRun], outcomes: dict[str, HostOutcome]
    ) -> None:
        pool = cf.ThreadPoolExecutor(
            max_workers=self.options.max_parallel, thread_name_prefix="restore-host"
        )
        running: dict[cf.Future[HostOutcome], str] = {}
        announced: set[str] = set()
        try:
            while True:
                for name in scheduler.next_to_start():
                    scheduler.mark_started(name)
                    running[pool.submit(self._run_host, runs[name])] = name
                for name, failed_service in scheduler.blocked.items():
                    if name not in announced and name not in outcomes:
                        announced.add(name)
                        self._set_state(
                            runs[name], HostState.BLOCKED, reason=f"service {failed_service} failed"
                        )
                        outcomes[name] = HostOutcome(
                            name,
                            runs[name].planned.service,
                            HostState.BLOCKED.value,
                            False,
                            message=f"blocked: service {failed_service} failed",
                        )
                if not running:
                    break
                done, _ = cf.wait(running, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    outcome = future.result()
                    outcomes[name] = outcome
                    if outcome.state == HostState.SKIPPED.value:
                        scheduler.mark_skipped(name)
                    else:
                        scheduler.mark_finished(name, outcome.ok)
        except KeyboardInterrupt as exc:
            self._interrupt(_signal_name(exc), running)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _interrupt(self, signal_name: str, running: Mapping[cf.Future[HostOutcome], str]) -> None:
        """Stop every host, and give each a moment to journal its cut step as `interrupted`
        (so the journal says what happened, and --resume knows which steps to run again)."""
        self._interrupted_by = signal_name
        self._stop.set()
        with self._ctx_lock:
            for ctx in list(self._contexts):
                ctx.abandon()
        cf.wait(running, timeout=INTERRUPT_GRACE_S)

    # -- one host -----------------------------------------------------------------------------

    def _run_host(self, run: _HostRun) -> HostOutcome:
        try:
            return self._steps(run)
        except Exception as exc:  # a bug in one host's handling must not abort the others
            self._set_state(run, HostState.FAILED, reason=f"internal error: {exc}")
            return self._outcome(run, False, f"internal error: {type(exc).__name__}: {exc}")

    def _outcome(
        self, run: _HostRun, ok: bool, message: str = "", needs_operator: bool = False
    ) -> HostOutcome:
        verdict = run.facts.verdict.value if run.facts.verdict else run.replayed.verdict
        return HostOutcome(
            run.planned.name,
            run.planned.service,
            run.state,
            ok,
            verdict,
            run.replayed.current_step,
            message,
            needs_operator,
        )

    def _decisions(self, run: _HostRun) -> HostReplay:
        """Fresh view of the host's journal rows: operator decisions made meanwhile."""
        events = self.journal.events(self.run_id, host=run.planned.name)
        return replay(events).get(run.planned.name, HostReplay(run.planned.name))

    def _steps(self, run: _HostRun) -> HostOutcome:
        host = run.planned
        steps = host.steps
        for index, step in enumerate(steps, 1):
            key = step_key(index, step)
            if self._stop.is_set():
                if run.state != HostState.PENDING.value:  # stopped between two of its steps
                    self._set_state(run, HostState.INTERRUPTED)
                return self._outcome(run, False, "interrupted")
            view = self._decisions(run)
            if view.host_waived is not None:
                self._set_state(run, HostState.SKIPPED, **_who(view.host_waived))
                return self._outcome(run, True, "waived by an operator")
            last = view.last.get(key)
            if last in DONE:
                continue  # succeeded before a crash, or decided by an operator: never again
            if last == "waived":
                decision = view.decision.get(key, {})
                self._record(
                    "skipped", host=host, step=key, detail={"waived": True, **_who(decision)}
                )
                facts_after(step, "skipped", {}, run.facts)
                continue
            if last in UNFINISHED and not step.idempotent:
                self._set_state(
                    run,
                    HostState.FAILED,
                    reason=f"step {key} did not finish and is not idempotent",
                )
                self._record(
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
                return self._outcome(run, False, f"step {key} needs an operator", True)
            run.replayed.current_step = key
            self._set_state(run, STATE_OF_STEP[step.type])
            outcome = self._attempts(run, step, key)
            if outcome.status == INTERRUPTED:
                self._set_state(run, HostState.INTERRUPTED, step=key)
                return self._outcome(run, False, outcome.message)
            if not outcome.ok:
                self._set_state(run, HostState.FAILED, reason=outcome.message, step=key)
                return self._outcome(run, False, outcome.message)
            facts_after(step, outcome.status, outcome.detail, run.facts)
            if step.type is StepType.CHECK and run.facts.verdict is not None:
                verdict = run.facts.verdict
                self._set_state(run, HostState(verdict.value), verdict=verdict.value)
                if verdict is not Verdict.CLEAN and not _reimage_after(steps, index):
                    self._set_state(
                        run,
                        HostState.FAILED,
                        verdict=verdict.value,
                        reason=f"verdict {verdict.value} and no reimage step follows: "
                        "the host stays quarantined",
                    )
                    return self._outcome(run, False, f"{verdict.value}: stays quarantined")
            if step.type is StepType.RECONNECT:
                self._set_state(run, HostState.RECONNECTED)
        # A finished host never stays in the phase of its last step: `reconnected` if one of
        # its reconnect steps ran (now or before a resume), else `restored`.
        done = self._decisions(run).last
        reconnected = any(
            s.type is StepType.RECONNECT and done.get(step_key(i, s)) in DONE - {"skipped"}
            for i, s in enumerate(steps, 1)
        )
        self._set_state(run, HostState.RECONNECTED if reconnected else HostState.RESTORED)
        return self._outcome(run, True)

    def _attempts(self, run: _HostRun, step: StepSpec, key: str) -> StepOutcome:
        tries = 1 + (step.retries if step.idempotent else 0)
        outcome = StepOutcome(FAILED, {"message": "not run"})
        for attempt in range(1, tries + 1):
            outcome = self._execute(run, step, key, attempt)
            if outcome.ok or outcome.status in {REFUSED, INTERRUPTED} or attempt == tries:
                return outcome
            pause = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]
            if self._stop.wait(pause):  # stopped while waiting to try again
                return StepOutcome(INTERRUPTED, {**outcome.detail, "signal": self._interrupted_by})
        return outcome

    def _execute(self, run: _HostRun, step: StepSpec, key: str, attempt: int) -> StepOutcome:
        host = run.planned
        timeout = step.timeout_s or DEFAULT_TIMEOUTS_S[step.type]
        started = self._record(
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
        ctx = StepContext(
            run_id=self.run_id,
            host=host.bound.spec,
            service=host.service,
            step=step,
            step_key=key,
            graph=self.plan.graph,
            inventory_paths=self.inventory_paths,
            state_dir=self.journal.state_dir,
            run_dir=self.journal.state_dir / "runs" / self.run_id,
            journal=self.journal,
            facts=replace(run.facts),
            secrets=self.secrets,
            dry_run=self.options.dry_run,
            assume_yes=self.options.assume_yes,
            winrm_insecure=self.options.winrm_insecure,
            timeout_s=timeout,
            start_seq=started.seq,
            ansible_env=self._ansible_env,
            progress=self._progress_sink(host.name, key),
            execution_node=(
                self.inventory.host(host.bound.execution_node)
                if host.bound.execution_node
                else None
            ),
        )
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
        self._record(status, host=host, step=key, detail=detail)
        if self.options.dry_run and detail.get("gate"):
            with self._ctx_lock:
                self._gates.append({"host": host.name, "step": key, "gate": str(detail["gate"])})
        return StepOutcome(status, detail, outcome.verdict)

    def _progress_sink(self, host: str, key: str) -> Callable[[str], None]:
        """A step's own news (a health probe's try, an ansible task) for processors that
        draw it (the live view); not journaled: it is chatter, not state."""
        sink = getattr(self.processor, "step_progress", None)
        if sink is None:
            return lambda _message: None
        return lambda message: sink(host, key, message)

    def _prefork_for_run(self) -> contextlib.AbstractContextManager[PreforkAnsible]:
        if self._prefork is not None:
            return contextlib.nullcontext(self._prefork)
        return PreforkAnsible(log_path=self.journal.state_dir / "prefork.log")

    def _with_deadline(self, ctx: StepContext, timeout: float) -> StepOutcome:
        """Run the step in its own thread; past the deadline, cut it loose and move on."""
        # (outcome, whether the step had been cancelled when it returned): a step that
        # returns because it was cancelled (an approval gate, say) did not end on its own,
        # and what it says ("no approval before the deadline") is not what happened.
        box: list[tuple[StepOutcome, bool]] = []

        def target() -> None:
            try:
                outcome = self.runners[ctx.step.type](ctx)
            except Exception as exc:  # a step's bug is this host's failure, nobody else's
                outcome = StepOutcome(FAILED, {"error": f"{type(exc).__name__}: {exc}"})
            box.append((outcome, ctx.cancel.is_set()))

        thread = threading.Thread(
            target=target, name=f"step-{ctx.host.name}-{ctx.step_key}", daemon=True
        )
        with self._ctx_lock:
            self._contexts.add(ctx)
        thread.start()
        deadline = time.monotonic() + timeout
        try:
            while thread.is_alive() and time.monotonic() < deadline and not self._stop.is_set():
                thread.join(min(0.25, max(0.0, deadline - time.monotonic())))
        finally:
            with self._ctx_lock:
                self._contexts.discard(ctx)
        if box and not box[0][1]:
            return box[0][0]
        ctx.abandon()
        thread.join(2.0)  # a cooperative step returns at once once cancelled
        if self._stop.is_set():
            name = self._interrupted_by or "SIGINT"
            return StepOutcome(INTERRUPTED, {"message": f"interrupted by {name}", "signal": name})
        return StepOutcome(
            TIMED_OUT,
            {"message": f"step exceeded its {timeout:.0f}s deadline", "timeout_s": timeout},
        )


def _reimage_after(steps: Sequence[StepSpec], index: int) -> bool:
    return any(s.type is StepType.REIMAGE for s in steps[index:])


def _signal_name(exc: BaseException) -> str:
    return exc.signal_name if isinstance(exc, StopSignal) else "SIGINT"


def _who(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: detail[k] for k in ("by", "reason") if k in detail}
