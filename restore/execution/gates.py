"""DESIGN §5's invariants, checked by the engine before it dispatches a step.

Why here and not in the step runners: a runner can be replaced (`Engine(runners=...)`, a
site's own step), and an invariant that lives in a replaceable part is a habit, not a rule.
The engine asks `refusal()` before every step, whatever runner it was given; a refusal is
journaled as `refused` (retrying cannot help) and the runner is never called.

The facts come from the one fold of the journal (restore.execution.run_state.facts_after),
updated by the engine after each finished step, never by a runner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from restore.models import StepSpec, StepType, Verdict

if TYPE_CHECKING:  # the step runners import this module's gate texts: no import cycle
    from restore.execution.steps.base import HostFacts

EVIDENCE_GATE = "reimage needs evidence collected in this run (or waived by an operator)"
CLEAN_GATE = "reconnect needs the host's latest check to be clean"


def refusal(step: StepSpec, facts: HostFacts, host: str, dry_run: bool) -> str | None:
    """Why `step` may not run on `host` now, or None when every gate is open."""
    if step.type is StepType.REIMAGE:
        planned = dry_run and facts.evidence_planned  # a dry run's own gate, never a real one
        if not (facts.evidence_collected or facts.evidence_waived or planned):
            return (
                f"refusing to reimage {host}: no evidence collected in this run and no waiver "
                "(add an `evidence` step before `reimage`, or `restore skip HOST STEP` the "
                "evidence step with a reason)"
            )
    if step.type is StepType.RECONNECT and not dry_run and facts.verdict is not Verdict.CLEAN:
        # A dry run has no verdict: its reconnect step names this gate instead of deciding it.
        seen = facts.verdict.value if facts.verdict else "none since the last change"
        return (
            f"refusing to reconnect {host}: its most recent check verdict is {seen}, not "
            "clean; it stays quarantined"
        )
    return None
