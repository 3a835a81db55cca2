"""Wall time of the example hospital's rehearsal on lab twins, split into its phases.

Prints one line: lab up, run, report, lab down, total, and the total against the 3-minute
target of `make demo` (issue 7). Needs root (the lab).

Usage: python bench/rehearse.py [--max-parallel 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 180.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-parallel", type=int, default=4)
    args = parser.parse_args()
    from restore.lab.providers import register as register_lab_providers
    from restore.rehearsal.rehearse import rehearse

    register_lab_providers()  # as `restore rehearse` does: twins are reimaged through the lab
    with tempfile.TemporaryDirectory() as tmp:
        result = rehearse(
            ROOT / "dependency_graphs" / "hospital.yaml",
            ROOT / "inventory" / "hospital.yml",
            Path(tmp),
            lab=True,
            max_parallel=args.max_parallel,
        )
    t = result.timings_s
    hosts = len(result.run.hosts)
    print(
        f"rehearsal hosts={hosts} K={args.max_parallel} met_plan={result.met_plan} "
        f"lab_up={t.get('lab_up_s', 0):.1f}s run={t.get('run_s', 0):.1f}s "
        f"report={t.get('report_s', 0):.2f}s lab_down={t.get('lab_down_s', 0):.1f}s "
        f"total={t['total_s']:.1f}s target={TARGET_S:.0f}s ratio={t['total_s'] / TARGET_S:.2f}",
        flush=True,
    )
    sys.exit(0 if result.met_plan else 1)


if __name__ == "__main__":
    main()
