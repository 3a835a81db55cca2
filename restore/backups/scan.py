"""Scan every snapshot of a host's repository, oldest first, and name the last clean one."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from restore.backups import analysis, content, restic, selection, tree
from restore.backups.locate import BackupSource


@dataclass(frozen=True)
class SnapshotResult:
    snapshot: restic.Snapshot
    verdict: str
    findings: tuple[analysis.Finding, ...]


@dataclass
class HostScan:
    source: BackupSource
    snapshots: list[SnapshotResult] = field(default_factory=list)
    last_clean: restic.Snapshot | None = None
    error: str | None = None
    stats: content.ReadStats = field(default_factory=content.ReadStats)

    def to_json(self) -> dict[str, Any]:
        last = self.last_clean
        data: dict[str, Any] = {
            "host": self.source.host,
            "repository": self.source.location,
            "tag": self.source.tag,
            "snapshots": [
                {
                    "id": r.snapshot.id,
                    "short_id": r.snapshot.short_id,
                    "time": r.snapshot.time,
                    "verdict": r.verdict,
                    "findings": [
                        {
                            "check": f.check,
                            "detail": f.detail,
                            "path": f.path,
                            "severity": f.severity,
                        }
                        for f in r.findings
                    ],
                }
                for r in self.snapshots
            ],
            "last_clean": {"id": last.id, "time": last.time} if last else None,
            "read": {
                "files": self.stats.files_read,
                "bytes": self.stats.bytes_read,
                "cache_hits": self.stats.cache_hits,
                "restic_processes": self.stats.restic_processes,
                "seconds": round(self.stats.read_seconds, 3),
            },
        }
        if self.error:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class ScanOptions:
    rules: analysis.Rules
    file_cap: int = content.DEFAULT_FILE_CAP
    file_timeout: float = content.DEFAULT_FILE_TIMEOUT_S
    # only the newest N snapshots (None: all); the oldest scanned is then the baseline
    newest: int | None = None


def scan_host(
    source: BackupSource,
    options: ScanOptions,
    progress: Callable[[str], None] = lambda _: None,
) -> HostScan:
    result = HostScan(source)
    cache = content.ContentCache(stats=result.stats)
    repo = source.repository
    try:
        snapshots = restic.snapshots(repo, source.tag)
    except restic.ResticError as exc:
        result.error = str(exc)
        return result
    if options.newest is not None:
        snapshots = snapshots[-options.newest :]
    baseline: analysis.Baseline | None = None
    memo: analysis.NodeMemo = {}
    every_file = bool(options.rules.bad_hashes)

    listings = restic.list_snapshots_nodes(repo, [s.id for s in snapshots])

    def listing() -> tuple[str, list[tree.Node]]:
        try:
            snapshot_id, raw = next(listings)
        except StopIteration:  # the listing failed earlier: that snapshot said why
            raise restic.ResticError("restic find ended before this snapshot") from None
        return snapshot_id, [tree.node_from_json(n) for n in raw]

    # One restic process lists every snapshot; the next listing is parsed while this
    # snapshot's content is read (one worker thread: the generator is never shared).
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(listing) if snapshots else None
        for index, snap in enumerate(snapshots):
            progress(f"{source.host}: snapshot {snap.short_id} ({snap.time})")
            assert upcoming is not None
            current = upcoming
            more = index + 1 < len(snapshots)
            upcoming = pool.submit(listing) if more else None
            try:
                listed_id, nodes = current.result()
                if listed_id != snap.id:
                    raise restic.ResticError(f"listing of {listed_id[:8]} for {snap.short_id}")
                content.read_snapshot(
                    repo,
                    snap.id,
                    nodes,
                    cache,
                    every_file=every_file,
                    file_cap=options.file_cap,
                    file_timeout=options.file_timeout,
                )
            except restic.ResticError as exc:
                failed = analysis.Finding("read_error", str(exc), "", analysis.SUSPECT)
                result.snapshots.append(SnapshotResult(snap, analysis.SUSPECT, (failed,)))
                continue
            if baseline is None:
                baseline = analysis.baseline_of(nodes, cache)
            findings = analysis.analyse(nodes, cache, baseline, options.rules, memo)
            result.snapshots.append(
                SnapshotResult(snap, selection.verdict(findings), tuple(findings))
            )
    listings.close()  # ends the restic process if the scan stopped early
    chosen = selection.last_clean([r.verdict for r in result.snapshots])
    result.last_clean = result.snapshots[chosen].snapshot if chosen is not None else None
    return result
