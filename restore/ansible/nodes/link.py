"""The control side's link to one job on an execution node, over SSH.

The job itself lives on the node, kept by `agent.py`: this side starts it, attaches to its
output from a byte offset, re-attaches after a lost link, cancels it and cleans it up. A link
that stays lost past the re-attach deadline makes the job `unknown`: it may still be running
on the node, so an operator decides; it is never resubmitted automatically.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable
from pathlib import Path

from restore.ansible.nodes.job_access import job_spec, request_token, signature_line
from restore.models import HostSpec
from restore.transports.base import TransportError
from restore.transports.ssh import SSH_ERRORS, SshChannel, SshTransport

REFUSED = 4  # agent.REFUSED: the job's signature did not verify

CONNECT_TIMEOUT_S = 15.0
KEEPALIVE_S = 5  # the worker's; agent.py passes the same value
IDLE_LIMIT_S = 3 * KEEPALIVE_S + 5
"""Silence this long, without even a keepalive, means the link is gone; `process` alone has
no read timeout and would wait forever."""
REATTACH_DEADLINE_S = 600.0
NO_SUCH_JOB = 3


class JobStopped(OSError):
    """Ends `process` (ansible-runner turns an OSError into an error status); `reason` is one
    of canceled, timeout, unknown."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NodeLink:
    def __init__(
        self, node: HostSpec, ident: str, connect_timeout_s: float = CONNECT_TIMEOUT_S
    ) -> None:
        self.node = node
        self.ident = ident
        self.connect_timeout_s = connect_timeout_s
        self._transport: SshTransport | None = None

    # -- one-shot commands --------------------------------------------------------------------

    def _transport_now(self) -> SshTransport:
        if self._transport is None:
            transport = SshTransport(job_spec(self.node))
            transport.connect(self.connect_timeout_s)
            self._transport = transport
        return self._transport

    def drop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def _call(
        self, command: str, stdin: Path | bytes | tuple[bytes, Path] | None, timeout: float
    ) -> int:
        channel = self._transport_now().open_stream(command, self.connect_timeout_s)
        try:
            channel.settimeout(timeout)
            if isinstance(stdin, tuple):  # a header line, then a file
                channel.sendall(stdin[0])
                stdin = stdin[1]
            if isinstance(stdin, Path):
                with stdin.open("rb") as source:
                    while chunk := source.read(64 * 1024):
                        channel.sendall(chunk)
            elif stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            while not channel.exit_status_ready():
                channel.recv(4096)  # drain; the agent prints nothing on success
            return int(channel.recv_exit_status())
        except SSH_ERRORS as exc:
            raise TransportError(f"{self.node.name}: {exc or type(exc).__name__}") from None
        finally:
            channel.close()

    def _agent(self, *args: str) -> str:
        # the job key's forced command runs the agent; this is what it reads as its verb
        return " ".join(shlex.quote(a) for a in args)

    def _signed(self, *args: str) -> str:
        """attach, cancel, cleanup: the agent runs them only with the control node's
        signature of these very arguments (the job key alone reaches nothing)."""
        return self._agent(*args, "--sig", request_token(*args))

    def start(self, transmitted: Path) -> None:
        """Hand the job over; the agent stores it and starts the worker detached."""
        signed = signature_line(self.ident, transmitted)
        rc = self._call(self._agent("start", self.ident), (signed, transmitted), 300)
        if rc == REFUSED:
            raise TransportError(
                f"{self.node.name}: the node refused the job's signature "
                "(run `restore node install` again to renew the signing key)"
            )
        if rc != 0:
            hint = " (is the node installed? restore node install)" if rc in (126, 127) else ""
            raise TransportError(f"{self.node.name}: the job did not start (exit {rc}){hint}")

    def cancel(self) -> None:
        # unreachable: nothing more can be done from here; the job is reported as stopped
        with contextlib.suppress(TransportError):
            self._call(self._signed("cancel", self.ident), None, 30)

    def cleanup(self) -> None:
        with contextlib.suppress(TransportError):
            self._call(self._signed("cleanup", self.ident), None, 30)

    def attach(self, offset: int) -> SshChannel:
        return self._transport_now().open_stream(
            self._signed("attach", self.ident, str(offset)), self.connect_timeout_s
        )


class JobStream:
    """The job's output as the file `process` reads: re-attaches from the byte offset when
    the link drops or falls silent, stops at the deadline, on a cancel, or when the link
    stays lost past the re-attach deadline."""

    closed = False

    def __init__(
        self,
        link: NodeLink,
        stop: Callable[[], str | None],
        reattach_deadline_s: float = REATTACH_DEADLINE_S,
        on_reattach: Callable[[int], None] | None = None,
        idle_limit_s: float = IDLE_LIMIT_S,
    ) -> None:
        self._idle_limit_s = idle_limit_s
        self._link = link
        self._stop = stop
        self._reattach_deadline_s = reattach_deadline_s
        self._on_reattach = on_reattach
        self._channel: SshChannel | None = None
        self._buffer = bytearray()
        self._received = 0  # bytes taken off the link: where a re-attach resumes
        self.offset = 0  # bytes handed to `process`
        self.reattached = 0
        self.stopped: str | None = None

    def _check_stop(self) -> None:
        reason = self._stop()
        if reason is not None:
            self._fail(reason, f"job {reason} while reading from node {self._link.node.name}")

    def _fail(self, reason: str, message: str) -> None:
        self.stopped = reason
        raise JobStopped(reason, message)

    def _connect(self) -> None:
        lost_at = time.monotonic()
        pause = 0.5
        while True:
            self._check_stop()
            try:
                self._channel = self._link.attach(self._received)
                self._channel.settimeout(0.5)
                return
            except TransportError:
                self._link.drop()
            if time.monotonic() - lost_at > self._reattach_deadline_s:
                self._fail(
                    "unknown",
                    f"lost the link to node {self._link.node.name} for more than "
                    f"{self._reattach_deadline_s:.0f} s; the job may still be running there",
                )
            time.sleep(pause)
            pause = min(pause * 2, 5.0)

    def _fill(self) -> bool:
        if self._channel is None:
            self._connect()
        last = time.monotonic()
        while True:
            self._check_stop()
            assert self._channel is not None
            try:
                data = self._channel.recv(64 * 1024)
            except TimeoutError:
                if time.monotonic() - last > self._idle_limit_s:
                    self._relink()  # silent: treat as lost
                    last = time.monotonic()
                continue
            except SSH_ERRORS:
                self._relink()
                last = time.monotonic()
                continue
            if data:
                self._received += len(data)
                self._buffer += data
                return True
            status = self._channel.recv_exit_status() if self._channel.exit_status_ready() else -1
            if status == 0:
                return False  # the job is over and everything was read
            if status == NO_SUCH_JOB:
                self._fail("unknown", f"node {self._link.node.name} has no record of the job")
            if status == REFUSED:
                self._fail(
                    "unknown",
                    f"node {self._link.node.name} refused the request's signature "
                    "(run `restore node install` again to renew the signing key)",
                )
            self._relink()
            last = time.monotonic()

    def _relink(self) -> None:
        if self._channel is not None:
            self._channel.close()
        self._channel = None
        self._link.drop()
        self.reattached += 1
        if self._on_reattach is not None:
            self._on_reattach(self._received)
        self._connect()

    def readline(self, size: int = -1) -> bytes:
        while b"\n" not in self._buffer and self._fill():
            pass
        end = self._buffer.find(b"\n")
        return self._take(len(self._buffer) if end < 0 else end + 1)

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buffer) < size) and self._fill():
            pass
        return self._take(len(self._buffer) if size < 0 else min(size, len(self._buffer)))

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        self.offset += len(data)
        return data

    def readable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        raise OSError("read-only stream")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
