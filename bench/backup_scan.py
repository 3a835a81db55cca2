"""`restore backups scan`: 30 daily snapshots vs the newest alone; read rate vs `restic dump`.

A local restic repository is generated: a host tree (seed.base_tree) plus DATA_MIB of
incompressible data in 1 MiB files, backed up 30 times, one day apart, with CHANGE of the
data files rewritten each day. Every file's content is read (a known-bad hash list is given,
which makes the scan hash every file), side by side in one run, for each reader (native:
the repository opened once in Python, what a local repository gets; restic: the restic
binary, what an sftp: repository gets):
  - the scan of all 30 snapshots (each distinct content read once);
  - the scan of the newest snapshot alone;
  - yardstick: `restic dump --archive tar NEWEST /` to /dev/null (restic's own read rate).
Targets (issue 18): all/newest <= 2; scan read rate / restic dump rate >= 0.8.
The machine is shared: each native measurement and the yardstick are taken BEST times (the
fastest run, the usual way to take noise out of a wall-clock figure), and CPU seconds are
given next to wall time (the rate per CPU second does not depend on the load).

Run: .venv/bin/python bench/backup_scan.py [DATA_MIB]   (default 200; the issue says 1024)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from restore.backups import restic, seed
from restore.backups.analysis import Rules
from restore.backups.locate import BackupSource
from restore.backups.scan import ScanOptions, scan_host
from restore.integrity.checks.indicators import load_indicators

SNAPSHOTS, CHANGE, PASSWORD = 30, 0.02, "bench"
BEST = 3


def build(workdir: Path, data_mib: int) -> Path:
    repo, root = workdir / "repo", workdir / "host"
    history = seed.History(days=1)
    seed.restic(repo, PASSWORD, "init")
    seed.base_tree(root, history)
    data = root / "srv/data"
    data.mkdir(parents=True)
    for i in range(data_mib):
        (data / f"{i:05d}.bin").write_bytes(os.urandom(1 << 20))
    start = datetime(2026, 10, 1, 2)
    per_day = max(1, round(data_mib * CHANGE))
    for day in range(SNAPSHOTS):
        if day:
            for j in range(per_day):
                victim = data / f"{(day * per_day + j) % data_mib:05d}.bin"
                victim.write_bytes(os.urandom(1 << 20))
        seed.backup(repo, PASSWORD, root, start + timedelta(days=day), history.tag)
    return repo


def cpu() -> float:
    """CPU seconds of this process and its finished children (restic): on a shared, loaded
    machine the fairer yardstick, reported next to wall-clock time."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float
    bytes_read: int
    read_seconds: float
    processes: int


def timed_scan(source: BackupSource, options: ScanOptions) -> Timing:
    started, cpu_started = time.monotonic(), cpu()
    result = scan_host(source, options)
    elapsed, cpu_s = time.monotonic() - started, cpu() - cpu_started
    if result.error or len(result.snapshots) != (options.newest or SNAPSHOTS):
        sys.exit(f"scan failed: {result.error}")
    stats = result.stats
    return Timing(elapsed, cpu_s, stats.bytes_read, stats.read_seconds, stats.restic_processes)


def best(runs: int, measure: Callable[[], Timing]) -> Timing:
    return min((measure() for _ in range(runs)), key=lambda t: t.wall)


def line(reader: str, newest: Timing, every: Timing, dump: Timing) -> str:
    # the tar holds the same file contents
    dump_rate, dump_cpu_rate = newest.bytes_read / dump.wall / 1e6, newest.bytes_read / dump.cpu
    scan_rate = newest.bytes_read / newest.read_seconds / 1e6  # content reading, as the target
    whole_rate = newest.bytes_read / newest.wall / 1e6  # with listing and judging
    cpu_rate = newest.bytes_read / newest.cpu  # the whole newest scan, per CPU second
    return (
        f"  {reader}: all {every.wall:.1f}s ({every.bytes_read / 2**20:.0f} MiB read, "
        f"{every.processes} restic processes) vs newest alone {newest.wall:.1f}s "
        f"({newest.bytes_read / 2**20:.0f} MiB) = {every.wall / newest.wall:.2f}x "
        f"(target <= 2); read {scan_rate:.0f} MB/s vs restic dump {dump_rate:.0f} MB/s = "
        f"{scan_rate / dump_rate:.2f} (target >= 0.8; whole newest scan {whole_rate:.0f} MB/s "
        f"= {whole_rate / dump_rate:.2f}); CPU s: all {every.cpu:.1f} vs newest "
        f"{newest.cpu:.1f} = {every.cpu / newest.cpu:.2f}x; bytes per CPU second vs restic "
        f"dump = {cpu_rate / dump_cpu_rate:.2f}"
    )


def main() -> None:
    data_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        started = time.monotonic()
        repo_path = build(Path(tmp), data_mib)
        built = time.monotonic() - started
        repo = restic.Repository(str(repo_path), PASSWORD)
        source = BackupSource("bench", repo, str(repo_path), "")
        rules = Rules(indicators=load_indicators(), bad_hashes=frozenset({"0" * 64}))
        newest_id = restic.snapshots(repo)[-1].id

        def dump() -> Timing:
            started, cpu_started = time.monotonic(), cpu()
            subprocess.run(
                repo.argv("dump", "--archive", "tar", newest_id, "/"),
                env=repo.env(),
                stdout=subprocess.DEVNULL,
                check=True,
            )
            return Timing(time.monotonic() - started, cpu() - cpu_started, 0, 0.0, 1)

        yardstick = best(BEST, dump)
        lines = []
        for reader, runs in (("native", BEST), ("restic", 1)):  # restic: slow, shown once
            newest_options = ScanOptions(rules=rules, newest=1, reader=reader)
            newest = best(runs, partial(timed_scan, source, newest_options))
            all_options = ScanOptions(rules=rules, reader=reader)
            every = best(runs, partial(timed_scan, source, all_options))
            lines.append(line(reader, newest, every, yardstick))
        load = os.getloadavg()[0]
    print(
        f"backup scan, {data_mib} MiB x {SNAPSHOTS} snapshots, {CHANGE:.0%}/day (repo built in "
        f"{built:.0f}s; restic dump of the newest {yardstick.wall:.1f}s, best of {BEST}; native "
        f"figures best of {BEST}; load {load:.1f} on {os.cpu_count()} CPUs):"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
