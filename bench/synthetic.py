"""Synthetic hospital-sized graphs and inventories for the planning benchmarks."""

from __future__ import annotations

import random
from pathlib import Path

import yaml


def write_synthetic(directory: Path, hosts: int, seed: int = 1) -> tuple[Path, Path, Path]:
    """Write graph.yaml, inventory.yml and inventory.ini with `hosts` hosts, hosts/5 services.

    Dependencies form a random DAG (each service depends on up to 3 earlier ones), priorities
    1-5, a few Windows hosts, group vars in both inventory formats.
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    n_services = max(1, hosts // 5)
    services = []
    host_names = [f"h{i:05d}" for i in range(hosts)]
    per_service = [host_names[i::n_services] for i in range(n_services)]
    for i in range(n_services):
        deps = sorted(rng.sample(range(i), k=min(i, rng.randint(0, 3))))
        services.append(
            {
                "id": f"svc{i:04d}",
                "priority": rng.randint(1, 5),
                "hosts": per_service[i],
                "depends_on": [f"svc{d:04d}" for d in deps],
            }
        )
    graph = directory / "graph.yaml"
    graph.write_text(
        yaml.safe_dump(
            {"version": 1, "name": f"synthetic {hosts}", "services": services}, sort_keys=False
        )
    )
    windows = {h for h in host_names if rng.random() < 0.2}
    groups: dict[str, list[str]] = {"linux": [], "windows": []}
    for h in host_names:
        groups["windows" if h in windows else "linux"].append(h)
    yaml_inv = {
        "all": {
            "vars": {"ansible_user": "root"},
            "children": {
                "linux": {
                    "hosts": {h: {"ansible_host": f"{h}.example.test"} for h in groups["linux"]}
                },
                "windows": {
                    "vars": {"ansible_connection": "winrm", "ansible_winrm_scheme": "https"},
                    "hosts": {h: {"ansible_host": f"{h}.example.test"} for h in groups["windows"]},
                },
            },
        }
    }
    inv_yaml = directory / "inventory.yml"
    inv_yaml.write_text(yaml.safe_dump(yaml_inv, sort_keys=False))
    lines = ["[all:vars]", "ansible_user=root", "[linux]"]
    lines += [f"{h} ansible_host={h}.example.test" for h in groups["linux"]]
    lines += ["[windows]"] + [f"{h} ansible_host={h}.example.test" for h in groups["windows"]]
    lines += ["[windows:vars]", "ansible_connection=winrm", "ansible_winrm_scheme=https"]
    inv_ini = directory / "inventory.ini"
    inv_ini.write_text("\n".join(lines) + "\n")
    return graph, inv_yaml, inv_ini
