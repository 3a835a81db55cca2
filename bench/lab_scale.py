"""Time and memory to start N lab twins in parallel (default 250 and 1,000), then stop them.

Memory is what the machine lost while the twins ran: MemAvailable before `up` minus after,
which counts the hosts' processes, their tmpfs upper dirs and the kernel's mount and namespace
objects alike. The yardstick is the issue's figure before parallel boots: 250 twins in 49 s
and 2.9 GB. Needs root and the memory it measures; the golden image is built outside the
timing.

Usage: python bench/lab_scale.py [--sizes 250,1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from restore.lab import Lab
from restore.lab.rootfs import ensure_rootfs
from restore.models import Platform

YARDSTICK = (250, 49.0, 2.9)  # hosts, seconds, GB (sequential boots, before)


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,1000")
    args = parser.parse_args()
    ensure_rootfs()
    hosts, yard_s, yard_gb = YARDSTICK
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            lab = Lab(Path(tmp))
            wanted = [(f"twin{i:04d}", Platform.LINUX) for i in range(size)]
            before = available_bytes()
            start = time.perf_counter()
            try:
                lab.up(wanted)
                up = time.perf_counter() - start
                time.sleep(2)  # let the daemons settle before reading memory
                used_gb = (before - available_bytes()) / 1e9
            finally:
                start_down = time.perf_counter()
                Lab(Path(tmp)).down()
                down = time.perf_counter() - start_down
        print(
            f"lab twins={size:>5} up={up:7.1f}s ({up / size * 1000:5.1f} ms/twin) "
            f"memory={used_gb:5.2f} GB ({used_gb / size * 1000:5.1f} MB/twin) down={down:6.1f}s "
            f"| before: {hosts} twins {yard_s:.0f}s {yard_gb:.1f} GB, ratio per twin "
            f"time {(up / size) / (yard_s / hosts):4.2f} memory {(used_gb / size) / (yard_gb / hosts):4.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
