"""Whole-process time of `restore plan --format json` against `ansible-inventory --list`.

For 100, 1,000 and 10,000 hosts (services = hosts/5, random DAG), with the inventory in YAML
and in INI, prints one line per case: the yardstick (ansible-core's own inventory listing),
the first plan (cold inventory cache), a repeated plan (warm cache), and the ratios.
Targets (issue 2): first plan <= 1.2x ansible-inventory; repeated plan < 1.5 s.

Usage: python bench/plan_scale.py [--sizes 100,1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import write_synthetic

BIN = Path(sys.executable).parent


def timed(cmd: list[str], cache: Path) -> float:
    # The plan and inventory caches live in the user's cache folder: one per case, so that
    # removing it gives a cold first plan.
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            graph, inv_yaml, inv_ini = write_synthetic(Path(tmp) / str(size), size)
            for label, inventory in (("yaml", inv_yaml), ("ini", inv_ini)):
                state = Path(tmp) / f"state-{size}-{label}"
                yardstick, first, again = [], [], []
                for _ in range(args.repeat):
                    shutil.rmtree(state, ignore_errors=True)
                    cache = state / "xdg-cache"
                    yardstick.append(
                        timed(
                            [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
                            cache,
                        )
                    )
                    plan = [
                        str(BIN / "restore"),
                        "plan",
                        str(graph),
                        "-i",
                        str(inventory),
                        "--format",
                        "json",
                        "--state-dir",
                        str(state),
                    ]
                    first.append(timed(plan, cache))
                    again.append(timed(plan, cache))
                y, f, a = (statistics.median(v) for v in (yardstick, first, again))
                print(
                    f"hosts={size:>6} inv={label:<4} ansible-inventory --list={y:6.2f}s "
                    f"first plan={f:6.2f}s ({f / y:4.2f}x) repeated plan={a:6.2f}s ({a / y:4.2f}x)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
