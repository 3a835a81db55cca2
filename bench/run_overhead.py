"""`restore run --max-parallel 1` over N lab hosts against one `ansible-playbook` with
`serial: 1` doing the same work in the same order; plus the journal's cost per state change.

Runs, interleaved in each round: the yardstick, `restore run` as shipped (playbook steps
forked from the run's warm prefork server), and `restore run` with RESTORE_ANSIBLE_PREFORK=0
(one cold ansible-playbook per host step, the way ansible-runner starts it by default).
Prints the medians and the ratios to the yardstick (target <= 1.25, issue 5), and
milliseconds per journal append (SQLite WAL, synchronous=FULL, hash chain). Needs root.

Usage: python bench/run_overhead.py [--hosts 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from restore.execution.journal import Journal
from restore.lab import Lab
from restore.models import Platform

BIN = Path(sys.executable).parent
TASKS = [
    {
        "name": "Write a marker",
        "ansible.builtin.copy": {
            "dest": "/srv/data/bench-marker",
            "content": "x\n",
            "mode": "0644",
        },
    },
    {
        "name": "Read the kernel release",
        "ansible.builtin.command": "uname -r",
        "changed_when": False,
    },
]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    return time.perf_counter() - start


def journal_ms_per_append(tmp: Path, count: int = 500) -> float:
    journal = Journal(tmp / "journal-bench")
    run_id = journal.create_run(graph_path="g", graph_hash="0", inventory="i", options={})
    start = time.perf_counter()
    for i in range(count):
        journal.append(
            run_id, "state", host=f"h{i % 10}", service="s", detail={"state": "checking"}
        )
    elapsed = time.perf_counter() - start
    journal.close()
    return elapsed / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lab_state = tmp / "lab-state"
        names = [f"bench{i:02d}" for i in range(args.hosts)]
        lab = Lab(lab_state)
        try:
            inventory = lab.up([(n, Platform.LINUX) for n in names])
            (tmp / "work.yml").write_text(
                yaml.safe_dump(
                    [{"name": "Work", "hosts": "all", "gather_facts": False, "tasks": TASKS}]
                )
            )
            (tmp / "serial.yml").write_text(
                yaml.safe_dump(
                    [
                        {
                            "name": "Work",
                            "hosts": ",".join(names),
                            "serial": 1,
                            "order": "inventory",
                            "gather_facts": False,
                            "tasks": TASKS,
                        }
                    ]
                )
            )
            graph = {
                "version": 1,
                "name": "overhead",
                "services": [
                    {
                        "id": "work",
                        "priority": 1,
                        "hosts": names,
                        "steps": [{"ansible": "work.yml"}],
                    }
                ],
            }
            (tmp / "graph.yaml").write_text(yaml.safe_dump(graph))
            env_cmd = ["env", "ANSIBLE_HOST_KEY_CHECKING=True", f"PATH={BIN}:/usr/bin:/bin"]
            plain: list[float] = []
            warm: list[float] = []
            cold: list[float] = []
            for attempt in range(args.repeat):
                plain.append(
                    timed(
                        [
                            *env_cmd,
                            str(BIN / "ansible-playbook"),
                            "-i",
                            str(inventory),
                            str(tmp / "serial.yml"),
                        ]
                    )
                )
                for label, times in (("warm", warm), ("cold", cold)):
                    state = tmp / f"run-{label}-{attempt}"
                    prefork = "1" if label == "warm" else "0"
                    times.append(
                        timed(
                            [
                                *env_cmd,
                                f"RESTORE_ANSIBLE_PREFORK={prefork}",
                                str(BIN / "restore"),
                                "run",
                                str(tmp / "graph.yaml"),
                                "-i",
                                str(inventory),
                                "--max-parallel",
                                "1",
                                "--yes",
                                "--format",
                                "json",
                                "--state-dir",
                                str(state),
                            ]
                        )
                    )
                    shutil.rmtree(state, ignore_errors=True)
        finally:
            Lab(lab_state).down()
        p = statistics.median(plain)
        w, c = statistics.median(warm), statistics.median(cold)
        print(
            f"run overhead hosts={args.hosts} repeat={args.repeat} (medians)\n"
            f"  ansible-playbook serial:1          {p:6.2f}s\n"
            f"  restore run -K1 (prefork, default) {w:6.2f}s  ratio {w / p:4.2f} (target <= 1.25)\n"
            f"  restore run -K1 (prefork off)      {c:6.2f}s  ratio {c / p:4.2f}",
            flush=True,
        )
        print(f"journal append={journal_ms_per_append(tmp):5.2f} ms per state change", flush=True)


if __name__ == "__main__":
    main()
