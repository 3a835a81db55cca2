"""What every step receives and returns.

A step is a function ``run(ctx) -> StepOutcome``. It never raises for a failure on its host:
a refused gate, a failed playbook or an unreachable host is an outcome (data), so that one bad
host never aborts the others (Nornir's rule). The engine enforces the deadline around it;
``ctx.cancel`` tells a long step to give up and ``ctx.on_cancel`` registers what to close
(a transport) so a hung call is cut rather than waited for.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restore.execution.journal import Journal
from restore.models import GraphSpec, HostSpec, StepSpec, StepStatus, Verdict

SUCCEEDED = StepStatus.SUCCEEDED
FAILED = StepStatus.FAILED
REFUSED = StepStatus.REFUSED  # a gate said no: retrying cannot help
TIMED_OUT = StepStatus.TIMED_OUT
SKIPPED = StepStatus.SKIPPED


@dataclass
class HostFacts:
    """What the journal says about a host in this run, as the gates need it."""

    verdict: Verdict | None = None
    evidence_collected: bool = False
    evidence_waived: bool = False
    reimaged: bool = False
    # a dry run's evidence step said what it would collect: enough for the dry run's reimage
    # gate, never for a real one (restore.execution.gates)
    evidence_planned: bool = False


@dataclass(frozen=True)
class StepOutcome:
    status: str
    detail: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None

    @property
    def ok(self) -> bool:
        return self.status in {SUCCEEDED, SKIPPED}

    @property
    def message(self) -> str:
        return str(self.detail.get("message") or self.detail.get("error") or self.status)


@dataclass(eq=False)  # identity semantics: the engine keeps live contexts in a set
class StepContext:
    run_id: str
    host: HostSpec
    service: str
    step: StepSpec
    step_key: str
    graph: GraphSpec
    inventory_paths: tuple[str, ...]  # every -i of the run, resolved, in order
    state_dir: Path
    run_dir: Path
    journal: Journal
    facts: HostFacts
    secrets: tuple[str, ...] = ()
    # no `dry_run`: in a dry run the engine calls the kind's describer instead of its runner
    # (restore.execution.engine.dispatch), so a runner has no dry-run branch to take
    assume_yes: bool = False
    winrm_insecure: bool = False
    timeout_s: float = 600.0
    start_seq: int = 0  # journal seq of this step's `started` event
    ansible_env: Mapping[str, str] = field(default_factory=dict)  # the run's prefork server
    execution_node: HostSpec | None = None  # runs this host's playbooks; None: here
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[str], None] = lambda _message: None
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    def on_cancel(self, cleanup: Callable[[], None]) -> None:
        """Run `cleanup` if the step is abandoned at its deadline (e.g. close a transport)."""
        self._cleanups.append(cleanup)

    def abandon(self) -> None:
        self.cancel.set()
        for cleanup in self._cleanups:
            with contextlib.suppress(Exception):  # best effort: the step is abandoned anyway
                cleanup()

    def work_dir(self) -> Path:
        safe = self.step_key.split(":", 1)[0]
        return self.run_dir / "hosts" / self.host.name / f"step-{safe}"


def failed(message: str, **detail: Any) -> StepOutcome:
    return StepOutcome(FAILED, {"message": message, **detail})


def refused(message: str, **detail: Any) -> StepOutcome:
    return StepOutcome(REFUSED, {"message": message, **detail})


def succeeded(message: str = "", **detail: Any) -> StepOutcome:
    return StepOutcome(SUCCEEDED, {"message": message, **detail} if message else dict(detail))


def dry(message: str, gate: str | None = None, **detail: Any) -> StepOutcome:
    """A dry run shows what would happen and counts as success for the rest of the walk.

    `gate` names where a real run would stop here (wait for a person, or refuse unless a
    condition holds): the run's summary lists them."""
    extra = {"gate": gate} if gate else {}
    return StepOutcome(
        SUCCEEDED, {"message": f"dry run: {message}", "dry_run": True, **extra, **detail}
    )
