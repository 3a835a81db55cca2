"""Transports: one protocol (base.Transport) over SSH, WinRM and the local machine.

``connect_host(host, winrm_insecure=False, timeout=...)`` picks the transport from the
inventory (``ansible_connection``), connects and returns it; it raises TransportError when
the host cannot be used, which callers record as ``unreachable`` for that host alone.
"""

from __future__ import annotations

from restore.models import HostSpec, Platform
from restore.transports.base import (
    DEFAULT_COMMAND_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    HostKeyError,
    Transport,
    TransportError,
)

__all__ = [
    "DEFAULT_COMMAND_TIMEOUT_S",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "HostKeyError",
    "Transport",
    "TransportError",
    "connect_host",
    "make_transport",
]


def make_transport(host: HostSpec, *, winrm_insecure: bool = False) -> Transport:
    """The transport the inventory asks for, not yet connected."""
    connection = str(host.var("ansible_connection", "ssh"))
    if connection == "local":
        from restore.transports.local import LocalTransport

        return LocalTransport(host.name)
    if host.platform is Platform.WINDOWS or connection in {"winrm", "psrp"}:
        from restore.transports.winrm import WinrmTransport

        return WinrmTransport(host, insecure=winrm_insecure)
    from restore.transports.ssh import SshTransport

    return SshTransport(host)


def connect_host(
    host: HostSpec, *, winrm_insecure: bool = False, timeout: float = DEFAULT_CONNECT_TIMEOUT_S
) -> Transport:
    transport = make_transport(host, winrm_insecure=winrm_insecure)
    transport.connect(timeout)
    return transport
