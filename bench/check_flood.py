"""Peak memory of `restore check` on a host that floods every answer vs on a normal host.

Two lab hosts, checked one at a time by the real CLI (evidence collected), each run as the
only child of a fresh interpreter so that its peak RSS is what getrusage reports:
  - yardstick: a fresh host;
  - flood: the same host after its `head`, `cat`, `find` and `sha256sum` were replaced by
    scripts that send 300 MB each (the issue's replaced `head` stored a 314,572,800-byte
    "evidence" file and peaked at 692 MB). A ransom note makes the evidence step read too.
  - the same flood at 30 MB per answer: peak memory must not grow with what a host sends.
One line: peak RSS of each and the ratios, wall time, and the bytes of evidence on disk.

Run as root: .venv/bin/python bench/check_flood.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from restore.lab import Lab
from restore.models import Platform

FLOOD_BYTES = 300 * (1 << 20)
SMALL_FLOOD_BYTES = 30 * (1 << 20)
MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.monotonic()\n"
    "r = subprocess.run([sys.executable, '-m', 'restore', *sys.argv[1:]], capture_output=True)\n"
    "print(json.dumps({'rc': r.returncode, 'wall_s': time.monotonic() - t,\n"
    "    'rss_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
)
NOTE = "mkdir -p /srv/data; echo 'files encrypted' > /srv/data/README_RESTORE_FILES.txt\n"


def flood_script(size: int = FLOOD_BYTES) -> str:
    lines = [NOTE]
    for tool in ("head", "cat", "find", "sha256sum"):
        lines.append(
            f"cp /usr/bin/{tool} /usr/lib/{tool}.real; "
            f"printf '#!/bin/sh\\nexec /usr/lib/head.real -c {size} /dev/zero\\n' "
            f"> /usr/bin/{tool}; chmod 755 /usr/bin/{tool}"
        )
    # head.real must exist before any replaced tool runs it
    return lines[0] + lines[1] + "\n" + "\n".join(lines[2:]) + "\n"


def check(inventory: Path, host: str, state: Path) -> dict[str, float]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            "check",
            "-i",
            str(inventory),
            host,
            "--state-dir",
            str(state),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout)
    evidence = state / "evidence" / host
    result["evidence_bytes"] = sum(p.stat().st_size for p in evidence.rglob("*") if p.is_file())
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="restore-bench-") as tmp:
        state = Path(tmp)
        lab = Lab(state / "lab")
        try:
            inventory = lab.up(
                [("calm", Platform.LINUX), ("flood", Platform.LINUX), ("small", Platform.LINUX)]
            )
            lab.run_on("calm", NOTE)
            lab.run_on("flood", flood_script())
            lab.run_on("small", flood_script(SMALL_FLOOD_BYTES))
            calm = check(inventory, "calm", state / "run")
            flood = check(inventory, "flood", state / "run")
            small = check(inventory, "small", state / "run")
        finally:
            lab.down()
    print(
        f"check_flood: peak RSS of `restore check` on a host sending {FLOOD_BYTES >> 20} MB "
        f"per answer {flood['rss_mib']:.0f} MiB vs {SMALL_FLOOD_BYTES >> 20} MB per answer "
        f"{small['rss_mib']:.0f} MiB (ratio {flood['rss_mib'] / small['rss_mib']:.2f}: flat, "
        f"target <= 1.1) vs normal host {calm['rss_mib']:.0f} MiB (ratio "
        f"{flood['rss_mib'] / calm['rss_mib']:.2f}: the 8 MiB per-answer cap); wall "
        f"{flood['wall_s']:.1f}s vs {calm['wall_s']:.1f}s; evidence on disk "
        f"{flood['evidence_bytes'] / (1 << 20):.2f} MiB vs {calm['evidence_bytes'] / 1024:.1f} "
        f"KiB (issue: 300 MiB, 692 MB RSS)"
    )


if __name__ == "__main__":
    main()
