"""One run per state dir: an exclusive OS lock held for the whole life of a run.

Why a lock and not the journal: a journal row saying "running" outlives the process that
wrote it (SIGKILL, power loss, a dropped SSH session). An `flock` on a file in the state dir
is released by the kernel the moment its holder dies, so "is the lock held?" is the one
honest answer to "is a run alive here?". `run`, `run --resume` and `rehearse` hold it;
`status` and the operator commands only *probe* it, never wait for it.

The lock file (`run.lock`, mode 0600) also holds one JSON object describing its holder —
pid, host name, user, start time, command, and the run id once the run has one — so that a
refused second run can say who is in the way. The record is left behind when the holder
dies; it is only believed while the lock is held.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pwd
import socket
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from restore.errors import InputError

LOCK_NAME = "run.lock"


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a state dir's run lock."""

    pid: int
    host: str
    user: str
    started: str  # ISO 8601, UTC
    command: str  # run | resume | rehearse
    run_id: str | None = None

    def describe(self) -> str:
        run = f"run {self.run_id}" if self.run_id else f"a {self.command} (no run id yet)"
        return f"{run} is in progress (pid {self.pid} on {self.host} since {self.started})"


class RunInProgress(InputError):
    """A second run on a state dir whose lock is held: refused before it writes anything."""

    def __init__(self, state_dir: Path, holder: LockHolder | None) -> None:
        text = holder.describe() if holder else "another run is in progress"
        super().__init__(
            f"{text}; one run per state dir",
            file=str(state_dir),
            hint="wait for it, or stop it (Ctrl-C) and continue it with --resume",
        )
        self.holder = holder


def os_user() -> str:
    """The OS account of this process (not $USER, which anyone can set)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def terminal() -> str:
    """The controlling terminal's name (/dev/pts/3), or "none" (cron, a pipe, a script)."""
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                return os.ttyname(fd)
    return "none"


class RunLock:
    """``with RunLock(state_dir, "run"): ...`` — the run lock, or RunInProgress at once."""

    def __init__(self, state_dir: Path, command: str) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_NAME
        self.command = command
        self.holder: LockHolder | None = None
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # No O_TRUNC: a refused process must not wipe the holder's record.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            _lock_exclusive(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise RunInProgress(self.state_dir, read_record(self.state_dir)) from None
            raise
        self._fd = fd
        # A forked child (not exec'd) would share the lock and keep it alive after we die.
        os.register_at_fork(after_in_child=self._forget_in_child)
        self.holder = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            user=os_user(),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            command=self.command,
        )
        self._write_record()
        return self

    def set_run_id(self, run_id: str) -> None:
        """Name the run once the journal has given it an id (a new run learns it late)."""
        if self.holder is not None and self._fd is not None:
            self.holder = replace(self.holder, run_id=run_id)
            self._write_record()

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            # The record stays (it says who ran last); the lock is what tells liveness.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _write_record(self) -> None:
        assert self._fd is not None and self.holder is not None
        data = (json.dumps(asdict(self.holder), sort_keys=True) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def _forget_in_child(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


# A liveness probe (`status`, an operator command) holds a shared lock for microseconds; a run
# starting at that instant waits this long for it rather than calling the probe a live run.
PROBE_GRACE_S = 2.0


def _lock_exclusive(fd: int) -> None:
    """The run's exclusive lock, retried while only probes can be in the way."""
    deadline = time.monotonic() + PROBE_GRACE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.02)


def read_record(state_dir: Path) -> LockHolder | None:
    """The last holder's record, whether or not it still holds the lock."""
    try:
        data: Any = json.loads((Path(state_dir) / LOCK_NAME).read_text() or "null")
        return LockHolder(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def live_holder(state_dir: Path) -> LockHolder | None:
    """The process holding the state dir's run lock now, or None when no run is alive.

    Probes with a non-blocking *shared* flock on a read-only descriptor, released at once; it
    never creates the lock file (read commands create no state). Shared, so that two probes at
    the same instant (two operators' commands, a `watch restore status`) never take each other
    for a live run: only a run's exclusive lock makes the probe fail.
    """
    path = Path(state_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            # Held: a record being rewritten at this instant still names a live process.
            return read_record(state_dir) or LockHolder(0, "?", "?", "?", "run")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
