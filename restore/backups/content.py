"""Each distinct file content is read once, whatever the number of snapshots holding it.

An unchanged file keeps its content key (tree.Node.content_key) from one snapshot to the
next, so 30 daily snapshots with 2% daily change cost one full read plus 29 small ones.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from restore.backups import native, registry_hives, restic, tree
from restore.backups.yara_rules import Match, YaraRules

DEFAULT_FILE_CAP = 64 << 20  # bytes read of any one file; beyond it the file is truncated
TEXT_CAP = 1 << 20  # bytes kept in memory of a file the analysis parses
DEFAULT_FILE_TIMEOUT_S = 120.0
# Above this many files to read in one snapshot, one tar stream of the whole snapshot beats
# one restic process per file (each process opens the repository again).
TAR_THRESHOLD = 24
# One `restic restore` of many small files writes at most this much scratch data at once.
BATCH_BYTES = 1 << 30
BATCH_CHARS = 512 << 10
# The native reader's read-ahead (see read_snapshot_native).
READ_AHEAD_THREADS = 2
READ_AHEAD_FILES = 16
READ_AHEAD_BYTES = 128 << 20


@dataclass(frozen=True)
class Content:
    sha256: str  # of the bytes read (all of them unless truncated)
    truncated: bool
    text: bytes | None = None  # the first TEXT_CAP bytes, for files the analysis parses
    error: str | None = None
    yara: tuple[Match, ...] = ()  # the --rules this content matches
    yara_error: str | None = None
    hive: registry_hives.HiveReading | None = None  # the autostart values of a registry hive


@dataclass
class ReadStats:
    files_read: int = 0
    bytes_read: int = 0
    cache_hits: int = 0
    restic_processes: int = 0
    read_seconds: float = 0.0  # wall time spent reading content (not listing, not judging)


@dataclass
class ContentCache:
    by_key: dict[tuple[str, int, str, str, int, int, int], Content] = field(default_factory=dict)
    stats: ReadStats = field(default_factory=ReadStats)
    yara: YaraRules | None = None  # matched once per distinct content, as it is read

    def get(self, node: tree.Node) -> Content | None:
        return self.by_key.get(node.content_key())


def wants_content(node: tree.Node, every_file: bool) -> bool:
    """Files whose content the analysis needs; FIFOs, devices, sockets are never opened."""
    if node.type != "file":
        return False
    if every_file:
        return True
    path = node.path
    return (
        tree.needs_text(path)
        or tree.persistence_kind(path) is not None
        or tree.in_system_dir(path)
        or tree.registry_hive_kind(path) is not None
    )


def read_cap(node: tree.Node, file_cap: int) -> int:
    """Bytes read of a file: a registry hive is read whole up to its own bound, since a
    hive cut short cannot be parsed (SOFTWARE hives are often above the 64 MiB file cap)."""
    return registry_hives.HIVE_CAP if tree.registry_hive_kind(node.path) else file_cap


def _hive(node: tree.Node, read: restic.Read) -> registry_hives.HiveReading | None:
    kind = tree.registry_hive_kind(node.path)
    if kind is None or read.error:
        return None  # an unreadable hive is an `unreadable` finding already
    if read.truncated:
        cap = registry_hives.HIVE_CAP
        return registry_hives.HiveReading(problems=(f"larger than the hive cap ({cap} bytes)",))
    return registry_hives.read_autostart(read.data, kind)


def _content(node: tree.Node, read: restic.Read, rules: YaraRules | None) -> Content:
    keep = tree.needs_text(node.path)
    matches, match_error = rules.match(read.data) if rules is not None else ((), None)
    return Content(
        sha256=hashlib.sha256(read.data).hexdigest(),
        truncated=read.truncated,
        text=read.data[:TEXT_CAP] if keep else None,
        error=read.error,
        yara=matches,
        yara_error=match_error,
        hive=_hive(node, read),
    )


def read_snapshot(
    repo: restic.Repository,
    snapshot_id: str,
    nodes: Iterable[tree.Node],
    cache: ContentCache,
    *,
    every_file: bool = False,
    file_cap: int = DEFAULT_FILE_CAP,
    file_timeout: float = DEFAULT_FILE_TIMEOUT_S,
) -> None:
    """Read into ``cache`` every wanted file of a snapshot that it does not hold yet."""
    started = time.monotonic()
    try:
        _read_missing(repo, snapshot_id, list(nodes), cache, every_file, file_cap, file_timeout)
    finally:
        cache.stats.read_seconds += time.monotonic() - started


def read_snapshot_native(
    repo: native.LocalRepository,
    nodes: Iterable[tuple[tree.Node, tuple[str, ...]]],
    cache: ContentCache,
    *,
    every_file: bool = False,
    file_cap: int = DEFAULT_FILE_CAP,
) -> None:
    """As read_snapshot, from a repository opened once (no restic process at all).

    Files are read ahead by worker threads (pread, MAC, AES, zstd, blob hash: the native
    calls release the GIL) while this thread hashes and matches the previous ones; at most
    READ_AHEAD_FILES files or READ_AHEAD_BYTES are held at once.
    """
    started = time.monotonic()
    todo: dict[tuple[str, int, str, str, int, int, int], tuple[tree.Node, tuple[str, ...]]] = {}
    for node, blobs in nodes:
        if not wants_content(node, every_file):
            continue
        key = node.content_key()
        if key in cache.by_key or key in todo:
            cache.stats.cache_hits += 1
        else:
            todo[key] = (node, blobs)
    window: deque[tuple[tree.Node, Future[restic.Read], int]] = deque()
    held = 0

    def store_oldest() -> None:
        nonlocal held
        node, pending, size = window.popleft()
        read = pending.result()
        held -= size
        cache.by_key[node.content_key()] = _content(node, read, cache.yara)
        cache.stats.files_read += 1
        cache.stats.bytes_read += len(read.data)

    try:
        with ThreadPoolExecutor(READ_AHEAD_THREADS, thread_name_prefix="restic-read") as pool:
            try:
                for node, blobs in todo.values():
                    cap = read_cap(node, file_cap)
                    size = min(node.size, cap)
                    window.append((node, pool.submit(repo.read_file, blobs, cap), size))
                    held += size
                    while window and (len(window) > READ_AHEAD_FILES or held > READ_AHEAD_BYTES):
                        store_oldest()
                while window:
                    store_oldest()
            finally:
                for _, pending, _ in window:
                    pending.cancel()
    finally:
        cache.stats.read_seconds += time.monotonic() - started


def _missing(nodes: list[tree.Node], cache: ContentCache, every_file: bool) -> dict[str, tree.Node]:
    """Wanted files whose content the cache does not hold yet, by path."""
    missing: dict[str, tree.Node] = {}
    for node in nodes:
        if not wants_content(node, every_file):
            continue
        if node.content_key() in cache.by_key:
            cache.stats.cache_hits += 1
        else:
            missing[node.path] = node
    return missing


def _read_missing(
    repo: restic.Repository,
    snapshot_id: str,
    nodes_list: list[tree.Node],
    cache: ContentCache,
    every_file: bool,
    file_cap: int,
    file_timeout: float,
) -> None:
    missing = _missing(nodes_list, cache, every_file)
    if not missing:
        return

    def store(path: str, read: restic.Read) -> None:
        node = missing.pop(path, None)
        if node is None:
            return
        cache.by_key[node.content_key()] = _content(node, read, cache.yara)
        cache.stats.files_read += 1
        cache.stats.bytes_read += len(read.data)

    # registry hives have their own cap (read_cap): each read alone below, by restic dump
    hives = {p for p in missing if tree.registry_hive_kind(p)}
    wanted_bytes = sum(n.size for n in missing.values())
    all_bytes = sum(n.size for n in nodes_list if n.type == "file") or 1
    if len(missing) > TAR_THRESHOLD and wanted_bytes * 2 >= all_bytes:
        # most of the snapshot is new to the cache (the first one scanned): stream it whole
        cache.stats.restic_processes += 1
        timeout = file_timeout + all_bytes / 5e6  # a pessimistic 5 MB/s, plus one file's
        wanted = lambda path: path in missing and path not in hives  # noqa: E731
        restic.dump_tree(repo, snapshot_id, wanted, store, file_cap, timeout)
    small = [n for n in missing.values() if n.size <= file_cap and n.path not in hives]
    if len(small) > 1:
        for batch in _batches(small):
            cache.stats.restic_processes += 1
            _restore_batch(repo, snapshot_id, batch, store, file_cap, file_timeout)
    for path, node in list(missing.items()):  # big files (streamed, capped), hives, and
        cache.stats.restic_processes += 1  # names restore missed
        cap = read_cap(node, file_cap)
        store(path, restic.dump_file(repo, snapshot_id, path, cap, file_timeout + cap / 5e6))


def _batches(nodes: list[tree.Node]) -> Iterator[list[tree.Node]]:
    """Groups bounded in bytes (scratch disk) and in argv length."""
    batch: list[tree.Node] = []
    size = chars = 0
    for node in nodes:
        if batch and (size + node.size > BATCH_BYTES or chars + len(node.path) > BATCH_CHARS):
            yield batch
            batch, size, chars = [], 0, 0
        batch.append(node)
        size += node.size
        chars += len(node.path) + 16
    if batch:
        yield batch


def _restore_batch(
    repo: restic.Repository,
    snapshot_id: str,
    batch: list[tree.Node],
    store: Callable[[str, restic.Read], None],
    file_cap: int,
    file_timeout: float,
) -> None:
    with tempfile.TemporaryDirectory(prefix="restore-scan-") as scratch:
        timeout = file_timeout + sum(n.size for n in batch) / 5e6
        try:
            restic.restore_files(repo, snapshot_id, [n.path for n in batch], scratch, timeout)
        except restic.ResticError:
            return  # each file is then tried alone with restic dump, which says why
        root = os.path.realpath(scratch) + os.sep
        for node in batch:
            local = os.path.join(scratch, node.path.lstrip("/"))
            # a name from a hostile repository ("..", a "/" inside a name, a symlinked
            # parent) must not lead the read outside the scratch dir
            if not os.path.realpath(local).startswith(root):
                continue  # then read with restic dump, which judges the name itself
            read = _read_local(local, file_cap)
            if read is not None:
                store(node.path, read)


def _read_local(path: str, cap: int) -> restic.Read | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = handle.read(cap + 1)
    return restic.Read(data[:cap], truncated=len(data) > cap)
