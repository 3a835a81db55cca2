"""Finding: a graph file with a duplicate key validated, and the last value silently won."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GRAPH_WITH_DUPLICATE = """\
version: 1
name: duplicate keys
services:
  - id: lis
    name: Laboratory
    priority: 1
    hosts: [lis01]
    priority: 7
"""

NESTED_DUPLICATE = """\
version: 1
name: duplicate keys
services:
  - id: lis
    priority: 1
    hosts: [lis01]
    steps:
      - {health: {tcp: 80, tcp: 81}}
"""


def _validate(tmp_path: Path, graph_text: str) -> subprocess.CompletedProcess[str]:
    graph = tmp_path / "graph.yaml"
    graph.write_text(graph_text)
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("lis01 ansible_host=127.0.0.1\n")
    return subprocess.run(
        [sys.executable, "-m", "restore", "validate", str(graph), "-i", str(inventory)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("text", "key", "first", "second"),
    [(GRAPH_WITH_DUPLICATE, "priority", 6, 8), (NESTED_DUPLICATE, "tcp", 8, 8)],
)
def test_duplicate_key_is_refused_naming_both_lines(
    tmp_path: Path, text: str, key: str, first: int, second: int
) -> None:
    done = _validate(tmp_path, text)
    assert done.returncode == 2, done.stderr
    assert f"duplicate key '{key}'" in done.stderr
    assert f"line {first}" in done.stderr and f"line {second}" in done.stderr
    assert "Traceback" not in done.stderr
