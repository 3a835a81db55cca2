"""The control node itself, through subprocess: same contract as the remote transports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from restore.models import CommandOutput
from restore.transports.base import DEFAULT_COMMAND_TIMEOUT_S, DEFAULT_CONNECT_TIMEOUT_S


class LocalTransport:
    def __init__(self, host: str = "localhost") -> None:
        self.host = host

    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        return None

    def run(self, command: str, timeout: float = DEFAULT_COMMAND_TIMEOUT_S) -> CommandOutput:
        started = time.monotonic()
        # A new session, so that a timeout kills the whole process group, not just the shell.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            timed_out = True
        return CommandOutput(
            rc=-1 if timed_out else proc.returncode,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration_s=time.monotonic() - started,
            timed_out=timed_out,
        )

    def get(self, remote: str, local: Path, max_bytes: int, timeout: float) -> int:
        with open(remote, "rb") as src, open(local, "wb") as dst:
            data = src.read(max_bytes)
            dst.write(data)
        return len(data)

    def put(self, local: Path, remote: str, timeout: float) -> None:
        shutil.copyfile(local, remote)

    def close(self) -> None:
        return None
