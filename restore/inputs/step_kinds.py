"""Every step type, declared once: the registry that the graph loader, the planner, the
engine and the paper runbook all read.

A `StepKind` says everything the layers need to know about a step type: how its argument is
parsed and checked (graph loader), its default deadline (engine) and duration estimate
(planner), the host state it puts the host in while it runs (engine), the check a person
does by hand (printed runbook), the runner that executes it, and the describer that says,
in a dry run, what the runner would do (the engine calls the describer instead of the runner,
whatever runners it was given: a dry run touches no host by construction, not by each
runner's care). Runner and describer are named, not imported ("module:function"): this
module sits at the bottom of the layers (restore.inputs) so that planning and reporting can
read it without importing execution, and execution resolves every name once, when it loads
(restore.execution.runners), failing loudly for a kind without a runner or a describer.

Readers look a kind up when they need it (`kind_of`), never copy the registry into a table of
their own: a kind changed here is what every layer sees (tests/unit/test_step_kinds.py).

Adding a step type: name it in `StepType` (restore.models, the typed value a StepSpec holds),
declare its kind below, and write its runner and its dry-run describer. Rules that must hold
whatever runner a step has (reimage only after evidence, reconnect only when clean) go into
restore.execution.gates, never into a kind or a runner.
"""

from __future__ import annotations

from dataclasses import dataclass

from restore.inputs import step_arguments as args
from restore.inputs.step_arguments import ArgumentParser
from restore.models import HostState, StepType

_MINUTE = 60.0
_HOUR = 3600.0


@dataclass(frozen=True)
class StepKind:
    type: StepType
    parse_argument: ArgumentParser  # value written after the type -> argument (or None)
    timeout_s: float  # hard deadline when the step gives no `timeout:`
    estimate_s: float  # planning estimate when the step gives no `estimate:`
    phase: HostState  # the host's state while the step runs
    manual_check: str  # what a person checks by hand, in the printed runbook
    runner: str  # "module:function" taking a StepContext, returning a StepOutcome
    # "module:function" like the runner: what the step would do, said without touching any
    # host (`dry(...)`), or the failure the real run would meet before touching one
    dry_run: str
    takes_vars: bool = False  # accepts `vars:` (extra variables for its playbook)

    @property
    def name(self) -> str:
        """The word written in the graph file (`- check`, `ansible: rebuild.yml`)."""
        return self.type.value


_STEPS = "restore.execution.steps"

# Deadlines and estimates: deliberately conservative figures for a team working at night under
# pressure. Approval waits for people: a long deadline, but not forever.
_REGISTRY: dict[StepType, StepKind] = {
    kind.type: kind
    for kind in (
        StepKind(
            StepType.EVIDENCE,
            args.no_argument,
            timeout_s=1 * _HOUR,
            estimate_s=15 * _MINUTE,
            phase=HostState.COLLECTING_EVIDENCE,
            manual_check="Disk image / memory capture taken and hashed; custody form signed",
            runner=f"{_STEPS}.evidence:run",
            dry_run=f"{_STEPS}.evidence:would",
        ),
        StepKind(
            StepType.CHECK,
            args.no_argument,
            timeout_s=30 * _MINUTE,
            estimate_s=10 * _MINUTE,
            phase=HostState.CHECKING,
            manual_check=(
                "No ransom note, no unknown admin/UID 0, no unknown scheduled task or cron"
            ),
            runner=f"{_STEPS}.check:run",
            dry_run=f"{_STEPS}.check:would",
        ),
        StepKind(
            StepType.REIMAGE,
            args.no_argument,
            timeout_s=1 * _HOUR,
            estimate_s=30 * _MINUTE,
            phase=HostState.REIMAGING,
            manual_check="Rebuilt from the golden image; new host key recorded from the console",
            runner=f"{_STEPS}.reimage:run",
            dry_run=f"{_STEPS}.reimage:would",
        ),
        StepKind(
            StepType.ANSIBLE,
            args.playbook_path,
            timeout_s=1 * _HOUR,
            estimate_s=15 * _MINUTE,
            phase=HostState.REBUILDING,
            manual_check="Playbook ran to the end with failed=0",
            runner=f"{_STEPS}.playbook:run",
            dry_run=f"{_STEPS}.playbook:would",
            takes_vars=True,
        ),
        StepKind(
            StepType.SSH,
            args.text("a shell command"),
            timeout_s=10 * _MINUTE,
            estimate_s=5 * _MINUTE,
            phase=HostState.REBUILDING,
            manual_check="Command returned 0",
            runner=f"{_STEPS}.remote:run",
            dry_run=f"{_STEPS}.remote:would",
        ),
        StepKind(
            StepType.WINRM,
            args.powershell,
            timeout_s=10 * _MINUTE,
            estimate_s=5 * _MINUTE,
            phase=HostState.REBUILDING,
            manual_check="Script returned 0",
            runner=f"{_STEPS}.remote:run",
            dry_run=f"{_STEPS}.remote:would",
        ),
        StepKind(
            StepType.HEALTH,
            args.health_probe,
            timeout_s=10 * _MINUTE,
            estimate_s=2 * _MINUTE,
            phase=HostState.VERIFYING,
            manual_check="Service answers on its port / URL",
            runner=f"{_STEPS}.health:run",
            dry_run=f"{_STEPS}.health:would",
        ),
        StepKind(
            StepType.APPROVE,
            args.text("the message the approver confirms"),
            timeout_s=24 * _HOUR,
            estimate_s=10 * _MINUTE,
            phase=HostState.AWAITING_APPROVAL,
            manual_check="Business owner confirms, name and time written below",
            runner=f"{_STEPS}.approve:run",
            dry_run=f"{_STEPS}.approve:would",
        ),
        StepKind(
            StepType.RECONNECT,
            args.no_argument,
            timeout_s=10 * _MINUTE,
            estimate_s=5 * _MINUTE,
            phase=HostState.VERIFYING,
            manual_check="Last check clean; production network re-enabled",
            runner=f"{_STEPS}.network:run",
            dry_run=f"{_STEPS}.network:would",
        ),
        StepKind(
            StepType.QUARANTINE,
            args.no_argument,
            timeout_s=10 * _MINUTE,
            estimate_s=5 * _MINUTE,
            phase=HostState.QUARANTINED,
            manual_check="Production network cut; management network only",
            runner=f"{_STEPS}.network:run",
            dry_run=f"{_STEPS}.network:would",
        ),
        StepKind(
            StepType.DIRECTORY,
            args.directory_action,
            timeout_s=30 * _MINUTE,
            estimate_s=10 * _MINUTE,
            phase=HostState.REBUILDING,
            manual_check="krbtgt key version moved by two; every DC shows it",
            runner="restore.directory.step:run",
            dry_run="restore.directory.step:would",
        ),
    )
}


def kind_of(step_type: StepType) -> StepKind:
    """The kind of a step type; a StepType with no kind is a bug the unit tests catch."""
    return _REGISTRY[step_type]


def kind_named(name: str) -> StepKind | None:
    """The kind written as `name` in a graph file, or None for an unknown word."""
    for kind in _REGISTRY.values():
        if kind.name == name:
            return kind
    return None


def kinds() -> tuple[StepKind, ...]:
    """Every kind, in declaration order (the order error messages list them in)."""
    return tuple(_REGISTRY.values())


def step_names() -> tuple[str, ...]:
    return tuple(kind.name for kind in _REGISTRY.values())
