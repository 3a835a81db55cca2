"""Graph files for the directory lab tests: one service per DC group, steps as given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_graph(path: Path, services: list[dict[str, Any]], incident: str | None = None) -> Path:
    graph: dict[str, Any] = {"version": 1, "name": "directory", "services": services}
    if incident is not None:
        graph["incident"] = {"declared_at": incident}
    path.write_text(yaml.safe_dump(graph, sort_keys=False))
    return path


def service(sid: str, hosts: list[str], steps: list[Any], **extra: Any) -> dict[str, Any]:
    return {"id": sid, "priority": 0, "hosts": hosts, "steps": steps, **extra}


def one_step(path: Path, host: str, action: str, incident: str | None = None) -> Path:
    """A graph of one `directory: ACTION` step on `host`."""
    return write_graph(path, [service("ad", [host], [{"directory": action}])], incident)
