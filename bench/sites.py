"""Execution nodes: 3 sites x 10 lab hosts, the same run with every playbook driven from the
control node and with each site's playbooks run by that site's node.

Prints, side by side, the wall time and the control node's CPU seconds (the `restore run`
process and everything it waited for: user + system). Work done by the nodes runs under the
lab's own processes and is not counted, which is the point. Needs root (the lab).

Usage: python bench/sites.py [--sites 3] [--hosts-per-site 10] [--max-parallel 6]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
PLAYBOOK = """
- name: Site work
  hosts: all
  gather_facts: true
  tasks:
    - name: Write a file
      ansible.builtin.copy:
        dest: /srv/data/bench-sites
        content: "{{ ansible_facts['hostname'] }}\\n"
        mode: "0644"
    - name: Read it back
      ansible.builtin.command: cat /srv/data/bench-sites
      changed_when: false
    - name: List the programs
      ansible.builtin.find:
        paths: /usr/bin
      register: programs
    - name: Count them
      ansible.builtin.debug:
        msg: "{{ programs.files | length }} programs"
"""


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of `command` and all it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        try:
            hosts = json.loads(done.stdout)["hosts"]
            problems = "\n".join(
                f"  {h['host']}: {h['state']} {h.get('message') or ''}"
                for h in hosts
                if h["state"] not in {"reconnected", "restored"} or h.get("message")
            )
        except (ValueError, KeyError):
            problems = done.stdout[-2000:]
        raise SystemExit(f"{command[1]} failed:\n{problems}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--hosts-per-site", type=int, default=10)
    parser.add_argument("--max-parallel", type=int, default=6)
    args = parser.parse_args()
    total = args.sites * args.hosts_per_site
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lab_state = tmp / "lab"
        up = subprocess.run(
            [
                str(BIN / "restore"),
                "lab",
                "up",
                "--linux",
                str(total),
                "--sites",
                str(args.sites),
                "--state-dir",
                str(lab_state),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            if up.returncode != 0:
                raise SystemExit(f"lab up failed: {up.stdout[-2000:]}{up.stderr[-2000:]}")
            with_nodes = Path(up.stdout.strip().splitlines()[-1])
            data = yaml.safe_load(with_nodes.read_text())
            for group in data["all"]["children"].values():
                for host_vars in (group.get("hosts") or {}).values():
                    if isinstance(host_vars, dict):
                        host_vars.pop("restore_execution_node", None)
            from_here = tmp / "from-here.yml"
            from_here.write_text(yaml.safe_dump(data))
            (tmp / "playbooks").mkdir()
            (tmp / "playbooks" / "site.yml").write_text(PLAYBOOK)
            services = [
                {
                    "id": f"site{s}",
                    "priority": 1,
                    "hosts": [f"@site{s}"],
                    "max_parallel": args.max_parallel,
                    "steps": [{"ansible": "site.yml"}],
                }
                for s in range(1, args.sites + 1)
            ]
            # the nodes themselves are in their site groups; they are not part of the run
            for service in services:
                service["hosts"] = [
                    h
                    for h in yaml.safe_load(with_nodes.read_text())["all"]["children"][
                        service["id"]
                    ]["hosts"]
                    if not h.endswith("-node")
                ]
            graph = tmp / "graph.yaml"
            graph.write_text(
                yaml.safe_dump(
                    {
                        "version": 1,
                        "name": "sites",
                        "playbook_dir": "playbooks",
                        "services": services,
                    }
                )
            )
            results = {}
            for label, inventory in (
                ("from the control node", from_here),
                ("on site nodes", with_nodes),
            ):
                results[label] = run(
                    [
                        str(BIN / "restore"),
                        "run",
                        str(graph),
                        "-i",
                        str(inventory),
                        "--max-parallel",
                        str(args.max_parallel),
                        "--yes",
                        "--format",
                        "json",
                        "--state-dir",
                        str(tmp / label.replace(" ", "-")),
                    ]
                )
        finally:
            subprocess.run(
                [str(BIN / "restore"), "lab", "down", "--state-dir", str(lab_state)],
                capture_output=True,
                check=False,
            )
    print(f"sites={args.sites} hosts={total} max_parallel={args.max_parallel}", flush=True)
    for label, (wall, cpu) in results.items():
        print(f"  {label:<22} wall {wall:7.1f} s   control CPU {cpu:7.1f} s", flush=True)
    (_, here_cpu), (_, nodes_cpu) = results.values()
    print(f"  control CPU with nodes: {nodes_cpu / here_cpu:.0%} of driving everything from here")


if __name__ == "__main__":
    main()
