"""The control node itself, through subprocess: same contract as the remote transports."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

from restore.models import CommandOutput
from restore.transports.base import (
    DEFAULT_COMMAND_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    TransportError,
)
from restore.transports.bounded import (
    DEFAULT_MAX_STDERR_BYTES,
    DEFAULT_MAX_STDOUT_BYTES,
    Capped,
)


class LocalTransport:
    max_stdout_bytes = DEFAULT_MAX_STDOUT_BYTES

    def __init__(self, host: str = "localhost") -> None:
        self.host = host

    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        return None

    def run(
        self, command: str, timeout: float = DEFAULT_COMMAND_TIMEOUT_S, *, drain: bool = False
    ) -> CommandOutput:
        started = time.monotonic()
        deadline = started + timeout
        # A new session, so that a timeout kills the whole process group, not just the shell.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        out = Capped(self.max_stdout_bytes, keep_tail=drain)
        err = Capped(DEFAULT_MAX_STDERR_BYTES, keep_tail=drain)
        sinks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
        timed_out = False
        with selectors.DefaultSelector() as selector:
            for fd in sinks:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map() and not (out.full or err.full):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                for key, _ in selector.select(min(remaining, 1.0)):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fd)
                    else:
                        sinks[key.fd].feed(chunk)
        cut = out.full or err.full
        if timed_out or cut:
            _kill_group(proc.pid)
        proc.stdout.close()
        proc.stderr.close()
        try:
            rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # closed its pipes but still runs
            _kill_group(proc.pid)
            proc.wait()
            timed_out = True
        return CommandOutput(
            rc=-1 if timed_out or cut else rc,
            stdout=out.text(),
            stderr=err.text(),
            duration_s=time.monotonic() - started,
            timed_out=timed_out,
            truncated=out.truncated or err.truncated,
        )

    def get(self, remote: str, local: Path, max_bytes: int, timeout: float) -> int:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; then refuse anything that
        # is not a regular file (a device would stream forever).
        try:
            fd = os.open(remote, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            raise TransportError(f"{self.host}: cannot read {remote}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as src:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise TransportError(f"{self.host}: cannot read {remote}: not a regular file")
            os.set_blocking(fd, True)
            data = src.read(max_bytes)
        local.write_bytes(data)
        return len(data)

    def put(self, local: Path, remote: str, timeout: float) -> None:
        shutil.copyfile(local, remote)

    def close(self) -> None:
        return None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
