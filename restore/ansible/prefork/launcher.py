"""The program ansible-runner starts as "ansible-playbook" while a prefork server is up.

It forwards its argv, environment, working directory and standard descriptors to the server,
relays SIGINT and SIGTERM to the forked child, and exits the way the child did. If the server
cannot be reached before anything started, it execs the real ansible-playbook instead, so a
lost server costs speed, never a step. Kept to the standard library: it starts once per step.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from typing import NoReturn

from restore.ansible.prefork.protocol import REAL_PROGRAM_ENV, SOCKET_ENV, receive, send


def _exec_real(argv: list[str]) -> NoReturn:
    real = os.environ.get(REAL_PROGRAM_ENV) or "ansible-playbook"
    os.execvp(real, [real, *argv[1:]])


def main() -> NoReturn:
    argv = list(sys.argv)
    path = os.environ.get(SOCKET_ENV)
    if not path:
        _exec_real(argv)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
        send(sock, {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}, [0, 1, 2])
        reply, _ = receive(sock)
    except (OSError, ValueError):
        reply = None
    if reply is None or not isinstance(reply.get("pid"), int):
        sock.close()
        _exec_real(argv)  # nothing was started: the cold path is the same job
    child = int(reply["pid"])

    def relay(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.killpg(child, signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, relay)
    while True:
        try:
            outcome, _ = receive(sock)
            break
        except InterruptedError:
            continue
        except (OSError, ValueError):
            outcome = None
            break
    if outcome is None:
        sys.stderr.write("restore: lost the prefork server while ansible-playbook ran\n")
        os._exit(255)
    if "signal" in outcome:  # die the way the child died, as the cold program would have
        died_of = int(outcome["signal"])
        signal.signal(died_of, signal.SIG_DFL)
        os.kill(os.getpid(), died_of)
    os._exit(int(outcome.get("exit", 255)))


if __name__ == "__main__":
    main()
