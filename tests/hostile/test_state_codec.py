"""The plan cache's JSON codec (restore.planning.datacodec) replaces pickle: it builds the project's own
dataclasses back exactly, and a tampered file can only fail to decode, never name a class or
function of its choosing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from restore.models import Inventory, Platform, StepType
from restore.planning.datacodec import CodecError, decode, encode
from restore.planning.model import RestorePlan

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))


@pytest.fixture(scope="module")
def plan() -> RestorePlan:
    import tempfile

    from synthetic import write_synthetic

    from restore.inputs.graph import load_graph
    from restore.inputs.inventory import load_inventory
    from restore.planning.plan import build_plan

    with tempfile.TemporaryDirectory() as tmp:
        graph, inventory, _ = write_synthetic(Path(tmp), 60)
        return build_plan(load_graph(graph), load_inventory(inventory), max_parallel=[1, 3])


def test_a_plan_comes_back_equal_with_its_own_types(plan: RestorePlan) -> None:
    back = decode(encode(plan), RestorePlan)
    assert back == plan
    host = back.hosts[0]
    assert type(host.bound.spec.platform) is Platform
    assert all(type(step.type) is StepType for step in host.steps)
    assert isinstance(host.steps, tuple) and isinstance(back.simulations, tuple)
    assert back.to_json() == plan.to_json()
    # shared parts stay shared (written once, referenced after)
    assert back.hosts[0].steps[0] is back.hosts[0].bound.steps[0]


@pytest.mark.parametrize(
    "payload",
    [
        {"@": "system", "f": ["touch /tmp/x"]},
        {"@": "Popen", "f": [["id"]]},
        {"@e": "Platform", "v": "beos"},
        {"@r": 99},
        {"@": "Credential", "f": ["too", "many", "fields"]},
        {"__reduce__": "os.system"},
        [1, 2, 3],
    ],
)
def test_tampered_data_fails_to_decode(payload: object) -> None:
    with pytest.raises(CodecError):
        decode(json.dumps(payload).encode(), RestorePlan)


def test_a_planted_pickle_is_not_json(plan: RestorePlan) -> None:
    import pickle

    with pytest.raises(CodecError):
        decode(pickle.dumps(plan), RestorePlan)
    with pytest.raises(CodecError):
        decode(encode(plan), Inventory)  # the right shape or nothing
