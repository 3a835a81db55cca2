"""What the launcher and the server say to each other, and the fast-path guard.

One request per connection over an AF_UNIX SOCK_SEQPACKET socket (message boundaries are
kept, so a message is one JSON document): the launcher sends {argv, env, cwd} with its fds
0, 1 and 2 attached; the server answers {"pid": N} once the child runs, then {"exit": code} or
{"signal": n} when it ends. A closed connection means the other side is gone.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any

SOCKET_ENV = "RESTORE_PREFORK_SOCKET"
REAL_PROGRAM_ENV = "RESTORE_PREFORK_REAL"
DISABLE_ENV = "RESTORE_ANSIBLE_PREFORK"
MAX_MESSAGE = 1 << 20

# Read by ansible-core at run time, not frozen at import, and different for every job:
# ansible-runner points the fact cache into each job's own artifacts directory.
PER_JOB_VARIABLES = frozenset({"ANSIBLE_CACHE_PLUGIN_CONNECTION"})


def send(sock: socket.socket, message: Mapping[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """One message (None when the peer has closed) and any descriptors that came with it."""
    if max_fds:
        data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, max_fds)
    else:
        data, fds = sock.recv(MAX_MESSAGE), []
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("malformed message")
    return message, list(fds)


def config_key(environ: Mapping[str, str], config_file: str | None) -> tuple[Any, ...]:
    """What ansible-core's import-time configuration depends on: every ANSIBLE_* variable but
    the per-job ones, and the ansible.cfg it found (with its modification time)."""
    variables = tuple(
        sorted(
            (k, v)
            for k, v in environ.items()
            if k.startswith("ANSIBLE_") and k not in PER_JOB_VARIABLES
        )
    )
    mtime = None
    if config_file:
        try:
            mtime = os.stat(config_file).st_mtime_ns
        except OSError:
            mtime = -1
    return (variables, config_file, mtime)
