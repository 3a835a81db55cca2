"""Property: whatever bytes or YAML a user feeds the validator, it answers with InputError or
a valid graph, never with any other exception (which would reach the user as a traceback)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restore.errors import InputError
from restore.inputs.graph import load_graph

KEYS = [
    "id",
    "name",
    "priority",
    "hosts",
    "depends_on",
    "rto",
    "max_parallel",
    "steps",
    "version",
    "services",
    "network",
    "incident",
    "playbook_dir",
    "ansible",
    "health",
    "tcp",
    "check",
    "evidence",
    "timeout",
    "estimate",
    "vars",
    "platform",
    "bogus",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["8h", "30m", "lis", "db", "@grp", "windows", "x.yml"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=25,
)

VALID: dict[str, Any] = {
    "version": 1,
    "name": "x",
    "services": [
        {"id": "ad", "priority": 3, "hosts": ["dc1"]},
        {
            "id": "lis",
            "priority": 1,
            "hosts": ["l1"],
            "depends_on": ["ad"],
            "steps": ["evidence", {"check": None, "timeout": "5m"}, {"health": {"tcp": 80}}],
        },
    ],
}


def _load(text: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.yaml"
        path.write_bytes(text)
        try:
            load_graph(path)
        except InputError as exc:
            assert str(exc)  # always a message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    _load(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_random_yaml_documents(doc: Any) -> None:
    _load(yaml.safe_dump(doc).encode())


def _mutate(doc: Any, path: list[Any], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    if isinstance(doc, dict) and doc:
        key = list(doc)[head % len(doc)]
        return {**doc, key: _mutate(doc[key], rest, new)}
    if isinstance(doc, list) and doc:
        index = head % len(doc)
        return [*doc[:index], _mutate(doc[index], rest, new), *doc[index + 1 :]]
    return new


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 10), max_size=5), values)
def test_mutated_valid_graph(path: list[int], new: Any) -> None:
    _load(yaml.safe_dump(_mutate(VALID, path, new)).encode())
