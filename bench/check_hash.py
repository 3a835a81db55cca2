"""Remote hashing through `restore check` vs `sha256sum` on the host itself; 20-host check.

Line 1: 1 GiB of files (256 x 4 MiB) under /tmp/bench on one lab host. A baseline is
captured with `--hash-path /tmp/bench`, then timed side by side on the same host:
  - yardstick: `find /tmp/bench -type f -print0 | xargs -0 sha256sum` run on the host itself;
  - restore's `hashes` fact (the command `restore check --baseline` runs, hashing on the host
    with one sha256sum per core, only digests crossing the wire), over SSH;
  - the whole `restore check --baseline` (every check, including the 1 GiB) for context.
Line 2: `restore check` (all checks, no baseline, no evidence) on 20 fresh lab hosts.

Run as root: .venv/bin/python bench/check_hash.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from restore.inputs.inventory import load_inventory
from restore.integrity.checks.catalog import Context
from restore.integrity.checks.indicators import load_indicators
from restore.integrity.checks.linux import CATALOG
from restore.integrity.checks.runner import gather_facts
from restore.lab import Lab
from restore.models import Platform
from restore.transports import connect_host

FILES, FILE_MIB = 256, 4
# The lab host's root overlay is a 1 GiB tmpfs; its /tmp (a tmpfs of its own) holds the tree.
TREE = "/tmp/bench"


def restore(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "restore", *args], capture_output=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        verdicts = result.stdout.decode()[-2000:] if b"hosts" in result.stdout else ""
        raise SystemExit(
            f"restore {' '.join(args[:1])} exit {result.returncode} (every lab host should be "
            f"clean): {result.stderr.decode()[-500:]} {verdicts}"
        )
    return elapsed


def timed_on_host(lab: Lab, host: str, script: str) -> float:
    started = time.monotonic()
    lab.run_on(host, script)
    return time.monotonic() - started


def hash_bench(state: Path) -> str:
    lab = Lab(state / "one")
    try:
        inv = lab.up([("bench01", Platform.LINUX)])
        lab.run_on(
            "bench01",
            f"mkdir -p {TREE}; for i in $(seq 1 {FILES}); do "
            f"head -c {FILE_MIB}M /dev/urandom > {TREE}/f$i.bin; done",
        )
        total = FILES * FILE_MIB * (1 << 20)
        baseline = state / "baseline"
        restore(
            "baseline",
            "capture",
            "-i",
            str(inv),
            "-o",
            str(baseline),
            "--hash-path",
            TREE,
            "--state-dir",
            str(state),
        )
        yard = min(
            timed_on_host(
                lab, "bench01", f"find {TREE} -type f -print0 | xargs -0 sha256sum >/dev/null"
            )
            for _ in range(3)
        )
        host = load_inventory(inv, with_secrets=True).host("bench01")
        transport = connect_host(host)
        ctx = Context(indicators=load_indicators(), hash_paths=(TREE,))
        runs = []
        for _ in range(3):
            started = time.monotonic()
            facts, errors = gather_facts(transport, CATALOG, ctx, True, 600, ["hashes"])
            runs.append(time.monotonic() - started)
            assert not errors and len(facts["hashes"]) == FILES, errors
        transport.close()
        ours = min(runs)
        whole = restore(
            "check",
            "-i",
            str(inv),
            "--baseline",
            str(baseline),
            "--no-evidence",
            "--state-dir",
            str(state),
            "--format",
            "json",
        )
    finally:
        lab.down()
    gib = total / (1 << 30)
    return (
        f"check_hash: {gib:.1f} GiB, {FILES} files; sha256sum on host {gib / yard:.2f} GiB/s "
        f"({yard:.2f}s); restore hashes fact over SSH {gib / ours:.2f} GiB/s ({ours:.2f}s); "
        f"ratio {yard / ours:.2f} (target >= 0.8); whole `restore check --baseline` {whole:.2f}s"
    )


def fleet_bench(state: Path, hosts: int = 20) -> str:
    lab = Lab(state / "fleet")
    try:
        inv = lab.up([(f"fleet{i:02d}", Platform.LINUX) for i in range(1, hosts + 1)])
        elapsed = restore(
            "check",
            "-i",
            str(inv),
            "--no-evidence",
            "--parallel",
            "8",
            "--state-dir",
            str(state),
            "--format",
            "json",
        )
    finally:
        lab.down()
    return (
        f"check_fleet: restore check on {hosts} lab hosts (all checks, 8 at once) "
        f"{elapsed:.1f}s, {hosts / elapsed:.2f} hosts/s, {elapsed / hosts:.2f}s per host"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="restore-bench-") as tmp:
        print(hash_bench(Path(tmp)), flush=True)
        print(fleet_bench(Path(tmp)), flush=True)


if __name__ == "__main__":
    main()
