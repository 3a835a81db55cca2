"""The run of a RestorePlan: the scheduler drives, the hosts go.

- the one scheduler (restore.planning.scheduling) decides which host starts next: effective
  priority first, no wave barriers, a global max_parallel and each service's own;
- each started host walks its steps in a worker thread (restore.execution.engine.host_loop);
  each step runs in its own thread under a hard deadline (.dispatch);
- a failed host is data: its service fails, the scheduler blocks every dependent service
  (Airflow's upstream_failed) and independent branches go on;
- a stop signal cuts every running step, lets each journal its cut, and ends the run
  `interrupted` (resumable).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from restore import logs
from restore.ansible.prefork.service import PreforkAnsible
from restore.errors import Interrupted, StopSignal
from restore.execution.engine.dispatch import Dispatcher
from restore.execution.engine.host_loop import HostLoop
from restore.execution.engine.opening import open_run
from restore.execution.engine.recorder import HostRun, Recorder
from restore.execution.engine.results import (
    HostOutcome,
    NullProcessor,
    Processor,
    RunOptions,
    RunResult,
)
from restore.execution.journal import Journal
from restore.execution.run_snapshot import resolved_inventories
from restore.execution.run_state import HostReplay, replay_facts
from restore.execution.runners import RUNNERS
from restore.execution.steps.base import HostFacts, StepContext, StepOutcome
from restore.models import SUCCESSFUL_HOST_STATES, HostState, Inventory, RunState, StepType
from restore.planning.model import RestorePlan
from restore.planning.scheduling import SchedJob, SchedService, Scheduler

# After a stop signal: how long hosts get to journal their cut steps before the run ends.
INTERRUPT_GRACE_S = 10.0

log = logs.logger(__name__)


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
        self.inventory = inventory
        self.inventory_paths = resolved_inventories(inventory_paths)
        self.journal = journal
        self.options = options
        self.processor: Processor = processor or NullProcessor()
        self.secrets = tuple(v for h in inventory.hosts for _, v in h.secret_vars if v)
        journal.add_secrets(self.secrets)
        logs.add_secrets(self.secrets)
        self._recorder = Recorder(journal, self.processor)
        self._dispatcher = Dispatcher(
            plan,
            inventory,
            self.inventory_paths,
            options,
            self._recorder,
            # Tests replace a step type here to provoke verdicts they cannot plant for real.
            {**RUNNERS, **(runners or {})},
            self.secrets,
        )
        self._hosts = HostLoop(self._dispatcher, self._recorder)
        # Started by the caller before the inventory loads, so it is warm by the first step;
        # without one the run starts (and stops) its own.
        self._prefork = prefork

    @property
    def run_id(self) -> str:
        return self._recorder.run_id

    def run(self) -> RunResult:
        resumed, replayed = open_run(self.plan, self.options, self.inventory_paths, self._recorder)
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
        runs = self._host_runs(resumed, replayed)
        scheduler = self._scheduler()
        outcomes: dict[str, HostOutcome] = {}
        for name, run in runs.items():  # finished in an earlier attempt: never run again
            if run.state in SUCCESSFUL_HOST_STATES:
                outcomes[name] = HostOutcome(
                    name, run.planned.service, run.state, True, run.replayed.verdict
                )
                scheduler.mark_finished(name, ok=True)
        try:
            with self._prefork_for_run() as prefork:
                self._dispatcher.ansible_env = prefork.environment()
                self._drive(scheduler, runs, outcomes)
        except KeyboardInterrupt as exc:
            # _drive has already stopped every host and let them journal their cut steps.
            name = self._dispatcher.interrupted_by or _signal_name(exc)
            self._recorder.record(
                "run_interrupted", detail={"signal": name, "message": f"interrupted by {name}"}
            )
            self.journal.set_run_state(self.run_id, RunState.INTERRUPTED)
            raise Interrupted(
                f"run {self.run_id} interrupted by {name}; continue it with --resume"
            ) from None
        self._block_the_rest(scheduler, runs, outcomes)
        return self._finish(outcomes)

    def _host_runs(self, resumed: bool, replayed: dict[str, HostReplay]) -> dict[str, HostRun]:
        runs = {}
        for h in self.plan.hosts:
            facts = (
                replay_facts(h.steps, self.journal.events(self.run_id, host=h.name), h.name)
                if resumed
                else HostFacts()
            )
            run = HostRun(h, replayed.get(h.name, HostReplay(h.name, h.service)), facts)
            run.state = run.replayed.state
            runs[h.name] = run
        return runs

    def _scheduler(self) -> Scheduler:
        return Scheduler(
            [
                SchedService(
                    s.id, s.priority, s.effective_priority, s.depends_on, s.max_parallel, s.hosts
                )
                for s in self.plan.services
            ],
            [SchedJob(h.name, h.service, h.duration_s) for h in self.plan.hosts],
            self.options.max_parallel,
        )

    def _block_the_rest(
        self, scheduler: Scheduler, runs: dict[str, HostRun], outcomes: dict[str, HostOutcome]
    ) -> None:
        """Every host the scheduler blocked (a service it needs failed) and not yet told so."""
        for name, failed_service in scheduler.blocked.items():
            if name not in outcomes:
                run = runs[name]
                self._recorder.set_state(
                    run, HostState.BLOCKED, reason=f"service {failed_service} failed"
                )
                outcomes[name] = HostOutcome(
                    name,
                    run.planned.service,
                    HostState.BLOCKED.value,
                    False,
                    message=f"blocked: service {failed_service} failed",
                )

    def _finish(self, outcomes: dict[str, HostOutcome]) -> RunResult:
        ordered = tuple(outcomes[h.name] for h in self.plan.hosts if h.name in outcomes)
        state = RunState.SUCCEEDED
        if any(o.needs_operator for o in ordered):
            state = RunState.NEEDS_OPERATOR
        elif not all(o.ok for o in ordered):
            state = RunState.FAILED
        self.journal.set_run_state(self.run_id, state)
        order = self.plan.hosts_order
        gates = tuple(sorted(self._dispatcher.gates, key=lambda g: order.index(g["host"])))
        self._recorder.record(
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
        self, scheduler: Scheduler, runs: dict[str, HostRun], outcomes: dict[str, HostOutcome]
    ) -> None:
        pool = cf.ThreadPoolExecutor(
            max_workers=self.options.max_parallel, thread_name_prefix="restore-host"
        )
        running: dict[cf.Future[HostOutcome], str] = {}
        try:
            while True:
                for name in scheduler.next_to_start():
                    scheduler.mark_started(name)
                    running[pool.submit(self._hosts.run, runs[name])] = name
                # announced as soon as known, not at the end: the live view shows it now
                self._block_the_rest(scheduler, runs, outcomes)
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
        self._dispatcher.interrupt(signal_name)
        cf.wait(running, timeout=INTERRUPT_GRACE_S)

    def _prefork_for_run(self) -> contextlib.AbstractContextManager[PreforkAnsible]:
        if self._prefork is not None:
            return contextlib.nullcontext(self._prefork)
        return PreforkAnsible(log_path=self.journal.state_dir / "prefork.log")


def _signal_name(exc: BaseException) -> str:
    return exc.signal_name if isinstance(exc, StopSignal) else "SIGINT"
