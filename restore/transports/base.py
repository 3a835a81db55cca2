"""The one Transport protocol every check and step talks through.

A transport never raises for a command that ran and failed: a non-zero exit code, or a
command killed at its deadline, is a ``CommandOutput`` (data). It raises ``TransportError``
only when the host itself cannot be used (refused, unknown host key, bad credentials, the
connection died): the caller turns that into an ``unreachable`` verdict for that host and
carries on with the others.

Every call takes a hard timeout. A hung host must cost its own deadline, never stall a wave.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from restore.errors import OperationalError
from restore.models import CommandOutput

DEFAULT_CONNECT_TIMEOUT_S = 15.0
DEFAULT_COMMAND_TIMEOUT_S = 120.0


class TransportError(OperationalError):
    """The host cannot be reached or used (not a failed command: that is data)."""


class HostKeyError(TransportError):
    """The host's key is unknown or differs from known_hosts: never trusted on first use."""


@runtime_checkable
class Transport(Protocol):
    """A connection to one host. Not thread-safe: one transport per host, one caller at once."""

    host: str

    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        """Open the connection (idempotent). Raises TransportError."""

    def run(
        self, command: str, timeout: float = DEFAULT_COMMAND_TIMEOUT_S, *, drain: bool = False
    ) -> CommandOutput:
        """Run a shell command (Linux) or PowerShell script (Windows) within ``timeout``.

        Output is capped on the control node (``CommandOutput.truncated``). By default the
        command is abandoned at the cap; ``drain`` reads on to its end, keeping the first and
        last part (for steps whose exit code matters more than their chatter).
        """

    def get(self, remote: str, local: Path, max_bytes: int, timeout: float) -> int:
        """Copy at most ``max_bytes`` of a remote file to ``local``; return the bytes copied."""

    def put(self, local: Path, remote: str, timeout: float) -> None:
        """Copy a local file to the host."""

    def close(self) -> None:
        """Release the connection; safe to call twice and from another thread (watchdog)."""
