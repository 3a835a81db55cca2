"""Read a restic repository through the restic binary: never a FUSE mount, never a restore.

Every call is an argv list (no shell), read-only (``--no-lock``: the repository may be
evidence, or mounted read-only), with a deadline enforced here and a byte cap on what is
read back. The password reaches restic in its environment only; it is never written to
disk, a log or an error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import subprocess
import tarfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import IO, Any

from restore.errors import OperationalError

# restic's own progress and cache chatter are not wanted; a scan must not write a cache
# into the operator's home either.
_QUIET = ("--no-lock", "--no-cache", "--quiet")
# reads of 1 MiB: tarfile's default 10 KiB records would cost one select() each
_CHUNK = 1 << 20


class ResticError(OperationalError):
    """restic could not read the repository (wrong password, missing repository...)."""


@dataclass(frozen=True)
class Repository:
    """Where a repository is and how to open it. ``options`` are extra ``-o`` settings."""

    location: str
    password: str = field(repr=False)
    options: tuple[str, ...] = ()
    binary: str = "restic"

    def argv(self, *args: str) -> list[str]:
        extra = [item for opt in self.options for item in ("-o", opt)]
        return [self.binary, "-r", self.location, *_QUIET, *extra, *args]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env["RESTIC_PASSWORD"] = self.password
        return env


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: str  # as restic gives it (ISO 8601 with nanoseconds)
    tags: tuple[str, ...]
    paths: tuple[str, ...]
    hostname: str


@dataclass(frozen=True)
class Read:
    """What a bounded read of one file gave: its first ``cap`` bytes at most."""

    data: bytes
    truncated: bool
    error: str | None = None


def _start(repo: Repository, args: list[str]) -> subprocess.Popen[bytes]:
    try:
        proc = subprocess.Popen(
            repo.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=repo.env(),
        )
    except OSError as exc:
        raise ResticError(f"cannot run {repo.binary}: {exc.strerror}") from None
    assert proc.stdout is not None
    with contextlib.suppress(OSError, AttributeError):
        # a 1 MiB pipe instead of 64 KiB: restic writes, and we read, 16x fewer times
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _CHUNK)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> str:
    """End the process (it may still be writing) and return the tail of its stderr."""
    if proc.poll() is None:
        proc.kill()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        err = b""
    return err.decode("utf-8", "replace").strip()[-300:]


class _BoundedStream:
    """A process's stdout read with a deadline and a total byte cap, as a file for tarfile."""

    def __init__(self, proc: subprocess.Popen[bytes], deadline: float, cap: int) -> None:
        assert proc.stdout is not None
        self._out: IO[bytes] = proc.stdout
        self._deadline = deadline
        self._left = cap
        self.exhausted = False

    def reset_deadline(self, timeout: float) -> None:
        self._deadline = time.monotonic() + timeout

    def read(self, size: int = -1) -> bytes:
        want = _CHUNK if size < 0 else size
        chunks: list[bytes] = []
        while want > 0:
            if self._left <= 0:
                self.exhausted = True
                break
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._out], [], [], remaining)
            if not ready:
                raise TimeoutError
            chunk = os.read(self._out.fileno(), min(want, self._left, _CHUNK))
            if not chunk:
                break
            self._left -= len(chunk)
            want -= len(chunk)
            chunks.append(chunk)
            if size < 0:
                break
        return b"".join(chunks)


def _collect(repo: Repository, args: list[str], cap: int, timeout: float) -> bytes:
    proc = _start(repo, args)
    stream = _BoundedStream(proc, time.monotonic() + timeout, cap)
    chunks: list[bytes] = []
    try:
        while chunk := stream.read(_CHUNK):
            chunks.append(chunk)
    except TimeoutError:
        _stop(proc)
        raise ResticError(f"restic {args[0]} did not finish within {timeout:.0f}s") from None
    if stream.exhausted:
        _stop(proc)
        raise ResticError(f"restic {args[0]} wrote more than {cap} bytes")
    err = _stop(proc)
    if proc.returncode != 0:
        raise ResticError(f"restic {args[0]} failed (exit {proc.returncode}): {err}")
    return b"".join(chunks)


def snapshots(
    repo: Repository, tag: str = "", timeout: float = 120, cap: int = 64 << 20
) -> list[Snapshot]:
    """The repository's snapshots (optionally one tag's), oldest first."""
    args = ["snapshots", "--json", *(["--tag", tag] if tag else [])]
    raw = _collect(repo, args, cap, timeout)
    try:
        rows = json.loads(raw or b"[]") or []
    except ValueError:
        raise ResticError("restic snapshots --json gave no JSON") from None
    result = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise ResticError("restic snapshots --json: a snapshot without an id")
        result.append(
            Snapshot(
                id=row["id"],
                short_id=str(row.get("short_id") or row["id"][:8]),
                time=str(row.get("time", "")),
                tags=tuple(str(t) for t in row.get("tags") or ()),
                paths=tuple(str(p) for p in row.get("paths") or ()),
                hostname=str(row.get("hostname", "")),
            )
        )
    return sorted(result, key=lambda s: (s.time, s.id))


def dump_file(repo: Repository, snapshot_id: str, path: str, cap: int, timeout: float) -> Read:
    """The first ``cap`` bytes of one file (``restic dump``), streamed; never the whole file."""
    proc = _start(repo, ["dump", snapshot_id, path])
    stream = _BoundedStream(proc, time.monotonic() + timeout, cap + 1)
    chunks: list[bytes] = []
    try:
        while chunk := stream.read(_CHUNK):
            chunks.append(chunk)
    except TimeoutError:
        _stop(proc)
        return Read(b"".join(chunks), truncated=True, error=f"no end within {timeout:.0f}s")
    data = b"".join(chunks)
    truncated = len(data) > cap
    err = _stop(proc)
    if not truncated and proc.returncode != 0:
        return Read(b"", truncated=False, error=f"restic dump failed: {err}")
    return Read(data[:cap], truncated=truncated)


def dump_tree(
    repo: Repository,
    snapshot_id: str,
    wanted: Callable[[str], bool],
    on_file: Callable[[str, Read], None],
    cap: int,
    timeout: float,
) -> None:
    """Stream the whole snapshot as a tar (one restic process) and hand over wanted files.

    Cheaper than one ``restic dump`` per file when most files must be read: restic opens the
    repository once. Names are matched as restic's JSON spells them (invalid UTF-8 replaced).
    """
    proc = _start(repo, ["dump", "--archive", "tar", snapshot_id, "/"])
    stream = _BoundedStream(proc, time.monotonic() + timeout, 1 << 62)
    try:
        with tarfile.open(fileobj=stream, mode="r|", errors="replace", bufsize=_CHUNK) as archive:  # type: ignore[call-overload]
            for member in archive:
                path = "/" + member.name.lstrip("/")
                if not member.isreg() or not wanted(path):
                    continue
                handle = archive.extractfile(member)
                data = handle.read(cap + 1) if handle is not None else b""
                on_file(path, Read(data[:cap], truncated=len(data) > cap))
    except TimeoutError:
        raise ResticError(f"restic dump {snapshot_id[:8]}: no end within {timeout:.0f}s") from None
    except tarfile.TarError as exc:
        raise ResticError(f"restic dump {snapshot_id[:8]}: bad tar stream: {exc}") from None
    finally:
        err = _stop(proc)
    if proc.returncode not in (0, -9):
        raise ResticError(f"restic dump {snapshot_id[:8]} failed (exit {proc.returncode}): {err}")


def _pattern(path: str) -> str:
    # restic matches --include with Go's filepath.Match per path component: escape its
    # special characters so that a name such as "a[1]*" means itself
    return "".join("\\" + c if c in "*?[\\" else c for c in path)


def restore_files(
    repo: Repository, snapshot_id: str, paths: list[str], target: str, timeout: float
) -> None:
    """Write these regular files of a snapshot under ``target`` (a private scratch dir).

    One restic process for many files: each process opens the repository again (its key
    derivation alone costs a fraction of a second), so this is what keeps a 30-snapshot
    scan close to the cost of one. Callers cap the sizes; nothing here reaches a host.
    """
    includes = [item for p in paths for item in ("--include", _pattern(p))]
    args = ["restore", snapshot_id, "--target", target, *includes]
    _collect(repo, args, 1 << 20, timeout)


_FIND_END = re.compile(rb'"snapshot":"([0-9a-f]{64})"\}')


def list_snapshots_nodes(
    repo: Repository,
    snapshot_ids: list[str],
    timeout: float = 600,
    max_listing: int = 4 << 30,
) -> Generator[tuple[str, list[dict[str, Any]]], None, None]:
    """Every node of several snapshots from ONE restic process (``restic find --json '*'``).

    Each restic process derives the repository key again (scrypt: a fifth of a CPU second
    here); one listing for all snapshots instead of one per snapshot keeps a 30-snapshot
    scan close to the cost of one. The JSON array is cut into its per-snapshot elements as
    it streams (an element ends with its "snapshot" id: a quote inside a name is always
    escaped, so that text cannot occur inside a name), so one snapshot's listing is held
    at a time. ``timeout`` bounds the wait for each snapshot's listing; a snapshot with no
    file at all is given with an empty list.
    """
    proc = _start(repo, ["find", "--json", *[a for s in snapshot_ids for a in ("-s", s)], "*"])
    stream = _BoundedStream(proc, time.monotonic() + timeout, 1 << 62)
    buffer = b""
    searched = 0
    pending = list(snapshot_ids)
    try:
        while pending:
            stream.reset_deadline(timeout)
            match = _FIND_END.search(buffer, max(0, searched - 80))
            while match is None:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                searched = len(buffer)
                buffer += chunk
                if len(buffer) > max_listing:
                    raise ResticError(f"restic find: a listing larger than {max_listing} bytes")
                match = _FIND_END.search(buffer, max(0, searched - 80))
            if match is None:
                break
            start = buffer.index(b"{")
            element = json.loads(buffer[start : match.end()])
            buffer, searched = buffer[match.end() :], 0
            found = str(element.get("snapshot", ""))
            matches = element.get("matches") or []
            while pending and pending[0] != found:  # snapshots with no match are left out
                yield pending.pop(0), []
            if not pending:
                raise ResticError(f"restic find: a listing of an unexpected snapshot {found[:8]}")
            yield pending.pop(0), [m for m in matches if isinstance(m, dict)]
    except TimeoutError:
        raise ResticError(f"restic find: no listing within {timeout:.0f}s") from None
    except ValueError:
        raise ResticError("restic find: a listing that is not JSON") from None
    finally:
        err = _stop(proc)
    if proc.returncode not in (0, -9):
        raise ResticError(f"restic find failed (exit {proc.returncode}): {err}")
    for snapshot_id in pending:  # restic prints nothing for a snapshot without files
        yield snapshot_id, []
