"""A dry run touches no host because the engine says so, not because each runner remembers.

In a dry run the engine's dispatch calls each step's kind's dry-run describer and never its
runner, whatever runners the engine was given (restore.execution.engine.dispatch). Every
runner here is a stand-in that records the call and raises: a dry run over a step of each
kind must never reach one, and must still journal what the kind's describer says. The same
stand-in in a real run is called (the substitution is real, the test is not vacuous).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore.execution.engine import Engine, RunOptions
from restore.execution.journal import Journal
from restore.execution.runners import Runner
from restore.execution.steps.base import StepContext, StepOutcome
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.inputs.step_kinds import StepKind, kinds
from restore.models import StepType
from restore.planning.plan import build_plan

# A step of each kind as a graph author writes it: None for a kind with no argument.
ARGUMENTS: dict[StepType, Any] = {
    StepType.EVIDENCE: None,
    StepType.CHECK: None,
    StepType.REIMAGE: None,
    StepType.ANSIBLE: "site.yml",
    StepType.SSH: "touch {marker}",
    StepType.WINRM: "New-Item {marker}",
    StepType.HEALTH: {"tcp": 1},
    StepType.APPROVE: "the ward confirms",
    StepType.RECONNECT: None,
    StepType.QUARANTINE: None,
    StepType.DIRECTORY: "rotate_krbtgt",
}
# what a step needs before it so that the gates let it through to its describer
BEFORE: dict[StepType, list[Any]] = {StepType.REIMAGE: ["evidence"]}


def test_every_kind_has_a_step_written_here() -> None:
    assert set(ARGUMENTS) == set(StepType)


class Tripwire:
    """Stand-in runners that note each call and raise: a dry run must call none."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def runners(self) -> dict[StepType, Runner]:
        return {step_type: self._runner(step_type) for step_type in StepType}

    def _runner(self, step_type: StepType) -> Runner:
        def runner(ctx: StepContext) -> StepOutcome:
            self.calls.append((ctx.host.name, ctx.step_key))
            raise RuntimeError(f"the {step_type.value} runner was called")

        return runner


def _engine(tmp: Path, steps: list[Any], runners: dict[StepType, Runner], dry: bool) -> Engine:
    (tmp / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    (tmp / "net.yml").write_text("- hosts: all\n  tasks: []\n")
    graph = tmp / "graph.yaml"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "dry",
                "network": {"quarantine": "net.yml", "reconnect": "net.yml"},
                "services": [{"id": "svc", "priority": 1, "hosts": ["dc1"], "steps": steps}],
            }
        )
    )
    inventory = tmp / "inventory.yml"
    # one host every kind can describe: a Windows domain controller with a reimage provider
    host = {
        "ansible_host": "127.0.0.1",
        "ansible_connection": "winrm",
        "restore_role": "domain_controller",
        "restore_reimage_command": "/bin/true",
    }
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"ansible_python_interpreter": sys.executable},
                    "hosts": {"dc1": host},
                }
            }
        )
    )
    inv = load_inventory(inventory, with_secrets=True)
    plan = build_plan(load_graph(graph), inv)
    journal = Journal(tmp / "state")
    return Engine(plan, inv, str(inventory), journal, RunOptions(dry_run=dry), runners=runners)


def _step(kind: StepKind, marker: Path) -> Any:
    argument = ARGUMENTS[kind.type]
    if argument is None:
        return kind.name
    if isinstance(argument, str):
        argument = argument.format(marker=marker)
    return {kind.name: argument}


@pytest.mark.parametrize("kind", kinds(), ids=lambda k: k.name)
def test_a_dry_run_never_calls_a_runner_of_any_kind(kind: StepKind, tmp_path: Path) -> None:
    tripwire = Tripwire()
    marker = tmp_path / "touched"
    steps = [*BEFORE.get(kind.type, []), _step(kind, marker)]
    engine = _engine(tmp_path, steps, tripwire.runners(), dry=True)
    result = engine.run()

    assert tripwire.calls == []
    assert result.state == "succeeded", result
    assert not marker.exists()
    events = engine.journal.events(result.run_id)
    ends = [e for e in events if e.event in {"succeeded", "failed", "refused", "timed_out"}]
    assert len(ends) == len(steps)
    assert all(e.event == "succeeded" and e.detail["dry_run"] is True for e in ends)
    last = ends[-1]
    assert last.step is not None and last.step.split(":", 1)[1].startswith(kind.name)
    assert str(last.detail["message"]).startswith("dry run: would ")
    assert not [e for e in events if e.event == "approved"]  # nobody approved anything


def test_the_same_stand_in_runner_is_called_in_a_real_run(tmp_path: Path) -> None:
    """The control: the substitution reaches the engine, so only the dry run kept it out."""
    tripwire = Tripwire()
    engine = _engine(tmp_path, [{"ssh": "true"}], tripwire.runners(), dry=False)
    result = engine.run()
    assert tripwire.calls == [("dc1", "1:ssh: true")]
    failed = [e for e in engine.journal.events(result.run_id) if e.event == "failed"]
    assert failed[-1].detail["error"] == "RuntimeError: the ssh runner was called"
