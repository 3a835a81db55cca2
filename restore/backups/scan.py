"""Scan every snapshot of a host's repository, oldest first, and name the last clean one."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from restore.backups import analysis, content, native, restic, selection, tree
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
    # "auto": a repository on a local path is read natively (the key derived once),
    # anything else through the restic binary; "restic" forces the binary (the bench)
    reader: str = "auto"  # or "native", "restic"


@dataclass
class _Judge:
    """Judges snapshots in order, oldest first: the first one judged is the baseline."""

    rules: analysis.Rules
    cache: content.ContentCache
    result: HostScan
    baseline: analysis.Baseline | None = None
    memo: analysis.NodeMemo = field(default_factory=dict)

    def judge(self, snap: restic.Snapshot, nodes: list[tree.Node]) -> None:
        if self.baseline is None:
            self.baseline = analysis.baseline_of(nodes, self.cache)
        findings = analysis.analyse(nodes, self.cache, self.baseline, self.rules, self.memo)
        self.result.snapshots.append(
            SnapshotResult(snap, selection.verdict(findings), tuple(findings))
        )

    def failed(self, snap: restic.Snapshot, error: restic.ResticError) -> None:
        finding = analysis.Finding("read_error", str(error), "", analysis.SUSPECT)
        self.result.snapshots.append(SnapshotResult(snap, analysis.SUSPECT, (finding,)))


def scan_host(
    source: BackupSource,
    options: ScanOptions,
    progress: Callable[[str], None] = lambda _: None,
) -> HostScan:
    result = HostScan(source)
    cache = content.ContentCache(stats=result.stats, yara=options.rules.yara)
    judge = _Judge(options.rules, cache, result)
    try:
        if options.reader != "restic" and native.is_local(source.repository.location):
            _scan_native(source, options, judge, progress)
        else:
            _scan_restic(source, options, judge, progress)
    except restic.ResticError as exc:
        result.error = str(exc)
        return result
    chosen = selection.last_clean([r.verdict for r in result.snapshots])
    result.last_clean = result.snapshots[chosen].snapshot if chosen is not None else None
    return result


def _scan_native(
    source: BackupSource, options: ScanOptions, judge: _Judge, progress: Callable[[str], None]
) -> None:
    """The repository opened once: no restic process, each distinct content read once."""
    with native.LocalRepository(source.repository.location, source.repository.password) as repo:
        snapshots = repo.snapshots(source.tag)
        if options.newest is not None:
            snapshots = snapshots[-options.newest :]
        every_file = options.rules.every_file
        for snap, root in snapshots:
            progress(f"{source.host}: snapshot {snap.short_id} ({snap.time})")
            try:
                listed = list(repo.nodes(root))
                content.read_snapshot_native(
                    repo, listed, judge.cache, every_file=every_file, file_cap=options.file_cap
                )
            except restic.ResticError as exc:
                judge.failed(snap, exc)
                continue
            judge.judge(snap, [node for node, _ in listed])


def _scan_restic(
    source: BackupSource, options: ScanOptions, judge: _Judge, progress: Callable[[str], None]
) -> None:
    repo = source.repository
    snapshots = restic.snapshots(repo, source.tag)
    if options.newest is not None:
        snapshots = snapshots[-options.newest :]
    every_file = options.rules.every_file

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
                    judge.cache,
                    every_file=every_file,
                    file_cap=options.file_cap,
                    file_timeout=options.file_timeout,
                )
            except restic.ResticError as exc:
                judge.failed(snap, exc)
                continue
            judge.judge(snap, nodes)
    listings.close()  # ends the restic process if the scan stopped early
