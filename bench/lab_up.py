"""Time to bring up, then tear down, 1, 10 and 30 lab hosts (golden image already cached).

One line per size: up and down seconds, and seconds per host. The yardstick is the design's
verified recipe figure of about 0.2 s per host. Needs root.

Usage: python bench/lab_up.py [--sizes 1,10,30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from restore.lab import Lab
from restore.lab.rootfs import ensure_rootfs
from restore.models import Platform

YARDSTICK_S_PER_HOST = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,30")
    args = parser.parse_args()
    ensure_rootfs()  # built once, outside the timing
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            lab = Lab(Path(tmp))
            wanted = [(f"bench{i:02d}", Platform.LINUX) for i in range(size)]
            start = time.perf_counter()
            try:
                lab.up(wanted)
                up = time.perf_counter() - start
            finally:
                start_down = time.perf_counter()
                Lab(Path(tmp)).down()
                down = time.perf_counter() - start_down
        per_host = up / size
        print(
            f"lab hosts={size:>3} up={up:6.2f}s down={down:5.2f}s up/host={per_host:5.3f}s "
            f"(recipe {YARDSTICK_S_PER_HOST:.1f}s/host, ratio {per_host / YARDSTICK_S_PER_HOST:4.2f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
