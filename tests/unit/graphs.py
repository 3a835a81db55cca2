"""Helpers that write small graph files and inventories for the planning tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_graph(tmp: Path, services: list[dict[str, Any]], **top: Any) -> Path:
    data: dict[str, Any] = {"version": 1, "name": "Test", **top, "services": services}
    path = tmp / "graph.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_inventory(tmp: Path, groups: dict[str, list[str]], windows: tuple[str, ...] = ()) -> Path:
    children: dict[str, Any] = {}
    for group, hosts in groups.items():
        children[group] = {
            "hosts": {
                h: (
                    {"ansible_connection": "winrm"}
                    if h in windows
                    else {"ansible_host": f"{h}.test"}
                )
                for h in hosts
            }
        }
    path = tmp / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": children}}, sort_keys=False))
    return path


def service(
    sid: str, priority: int, hosts: list[str], depends_on: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": sid, "priority": priority, "hosts": hosts}
    if depends_on:
        data["depends_on"] = depends_on
    data.update(extra)
    return data
