"""One place per step type: the kind registry (restore.inputs.step_kinds) is what every layer
reads, and every kind can run.

The parametrized test swaps each kind, in the registry alone, for one with values no table
holds (parser, deadline, estimate, phase, hand check); the graph loader, the planner, the
engine and the paper runbook must all show those values. A layer that kept a table of its
own would show the old ones and fail here.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore.execution.engine import Engine, RunOptions
from restore.execution.journal import Journal
from restore.execution.runners import (
    DESCRIBERS,
    RUNNERS,
    MissingDescriber,
    MissingRunner,
    resolve_describer,
    resolve_runner,
)
from restore.execution.steps.base import StepContext, StepOutcome
from restore.inputs import step_kinds
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.inputs.step_arguments import ArgumentSite
from restore.inputs.step_kinds import StepKind, kind_of, kinds
from restore.models import HostState, StepType
from restore.planning.plan import build_plan
from restore.reporting.plan_runbook import to_markdown

KINDS = kinds()


def test_every_step_type_has_exactly_one_kind_and_back() -> None:
    assert {k.type for k in KINDS} == set(StepType)
    assert len(KINDS) == len(StepType)
    for step_type in StepType:
        assert kind_of(step_type).type is step_type
        assert kind_of(step_type).name == step_type.value
        assert step_kinds.kind_named(step_type.value) is kind_of(step_type)
    assert step_kinds.kind_named("reboot") is None


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_kind_has_a_runner_and_sane_defaults(kind: StepKind) -> None:
    runner = resolve_runner(kind)
    assert callable(runner)
    assert RUNNERS[kind.type] is runner
    assert kind.timeout_s > 0 and kind.estimate_s > 0
    assert kind.manual_check.strip()
    assert kind.phase not in {HostState.PENDING, HostState.RECONNECTED, HostState.RESTORED}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_kind_has_a_dry_run_describer_of_its_own(kind: StepKind) -> None:
    describer = resolve_describer(kind)
    assert callable(describer)
    assert DESCRIBERS[kind.type] is describer
    assert describer is not RUNNERS[kind.type]  # a dry run never reaches the runner


def test_the_engine_resolves_a_runner_and_a_describer_for_every_kind_and_no_other() -> None:
    assert set(RUNNERS) == {k.type for k in KINDS}
    assert set(DESCRIBERS) == {k.type for k in KINDS}


@pytest.mark.parametrize(
    ("runner", "why"),
    [
        ("restore.execution.steps.no_such_step:run", "cannot be loaded"),
        ("restore.execution.steps.check:no_such_function", "cannot be loaded"),
        ("restore.execution.steps.check", "is not 'module:function'"),
        ("restore.execution.steps.base:SUCCEEDED", "is not callable"),
    ],
)
def test_a_kind_whose_runner_is_missing_is_refused_by_name(runner: str, why: str) -> None:
    broken = replace(kind_of(StepType.CHECK), runner=runner)
    with pytest.raises(MissingRunner, match=f"step kind 'check': runner .* {why}"):
        resolve_runner(broken)


@pytest.mark.parametrize(
    ("describer", "why"),
    [
        ("", "has no dry-run describer"),
        ("restore.execution.steps.no_such_step:would", "describer .* cannot be loaded"),
        ("restore.execution.steps.check:no_such_function", "describer .* cannot be loaded"),
        ("restore.execution.steps.check", "describer .* is not 'module:function'"),
        ("restore.execution.steps.base:SUCCEEDED", "describer .* is not callable"),
    ],
)
def test_a_kind_without_a_dry_run_describer_is_refused_by_name(describer: str, why: str) -> None:
    broken = replace(kind_of(StepType.HEALTH), dry_run=describer)
    with pytest.raises(MissingDescriber, match=f"step kind 'health'.* {why}"):
        resolve_describer(broken)


def test_a_registry_with_a_kind_without_describer_stops_the_engine_from_loading() -> None:
    """Loudly, at import, naming the kind: not on the night, when the dry run reaches it."""
    code = (
        "from dataclasses import replace\n"
        "from restore.inputs import step_kinds\n"
        "from restore.models import StepType\n"
        "kind = step_kinds._REGISTRY[StepType.APPROVE]\n"
        "step_kinds._REGISTRY[StepType.APPROVE] = replace(kind, dry_run='')\n"
        "import restore.execution.engine\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "MissingDescriber: step kind 'approve' has no dry-run describer" in done.stderr


def _sentinel(kind: StepKind) -> StepKind:
    """The kind with values found nowhere else: a parser that marks what it parsed, odd
    figures, another phase and another hand check."""

    def parse(value: Any, site: ArgumentSite) -> str:
        assert site.step_name == kind.name
        return f"parsed by the registry's {kind.name}: {value}"

    other_phase = (
        HostState.AWAITING_APPROVAL
        if kind.phase is not HostState.AWAITING_APPROVAL
        else HostState.REIMAGING
    )
    return replace(
        kind,
        parse_argument=parse,
        timeout_s=4321.0,
        estimate_s=1234.0,
        phase=other_phase,
        manual_check=f"Hand check of the registry's {kind.name}",
    )


def _files(tmp: Path, kind: StepKind) -> tuple[Path, Path]:
    graph = tmp / "graph.yaml"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "kinds",
                "services": [
                    {"id": "svc", "priority": 1, "hosts": ["h1"], "steps": [{kind.name: "x"}]}
                ],
            }
        )
    )
    inventory = tmp / "inventory.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {
                        "ansible_connection": "local",
                        "ansible_python_interpreter": sys.executable,
                    },
                    "hosts": {"h1": {"ansible_host": "127.0.0.1"}},
                }
            }
        )
    )
    return graph, inventory


def _done(ctx: StepContext) -> StepOutcome:
    return StepOutcome("succeeded", {"message": "stand-in runner"})


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_a_kind_changed_in_the_registry_alone_is_what_every_layer_sees(
    kind: StepKind, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = _sentinel(kind)
    monkeypatch.setitem(step_kinds._REGISTRY, kind.type, sentinel)
    graph, inventory_path = _files(tmp_path, kind)

    # graph loader: the kind's own parser made the argument
    spec = load_graph(graph)
    (step,) = spec.services[0].steps or ()
    assert (step.type, step.argument) == (kind.type, f"parsed by the registry's {kind.name}: x")

    # planner: the kind's estimate
    inventory = load_inventory(inventory_path, with_secrets=True)
    plan = build_plan(spec, inventory)
    assert plan.hosts[0].duration_s == 1234.0

    # paper runbook: the kind's hand check
    assert f"Hand check of the registry's {kind.name}" in to_markdown(plan)

    # engine: the kind's deadline, and its phase while the step runs (gates may refuse the
    # step, e.g. a reimage without evidence; both come before them)
    journal = Journal(tmp_path / "state")
    engine = Engine(
        plan, inventory, str(inventory_path), journal, RunOptions(), runners={kind.type: _done}
    )
    result = engine.run()
    events = journal.events(result.run_id)
    started = next(e for e in events if e.event == "started")
    assert started.detail["timeout_s"] == 4321.0
    states_before = [
        e.detail["state"] for e in events if e.event == "state" and e.seq < started.seq
    ]
    assert states_before[-1] == sentinel.phase.value
