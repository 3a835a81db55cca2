"""The prefork server: imports ansible-core once, then forks one ansible-playbook per request.

Run by `PreforkAnsible` as `python -m restore.ansible.prefork.server --socket PATH --parent PID
--real PROGRAM`. Single-threaded on purpose (forking a threaded process is unsafe), which is
also why it is its own process rather than a fork of the engine. It ends, killing any job it
still runs, when told to (SIGTERM) or when the engine that started it is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import selectors
import shutil
import signal
import socket
import struct
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from restore.ansible.prefork.protocol import config_key, receive, send
from restore.process_tree import kill_tree

# Enough of ansible-core that a forked child starts at the playbook, not at the imports.
_WARM_MODULES = (
    "ansible.cli.playbook",
    "ansible.executor.task_queue_manager",
    "ansible.executor.process.worker",
    "ansible.plugins.strategy",
    "ansible.plugins.callback",
    "ansible.inventory.manager",
    "ansible.vars.manager",
    "ansible.template",
)
# Plugins nearly every job loads. Loading one imports its module and parses its documentation
# for its configuration: both stay cached in the process, so every fork inherits them. A job
# that loads others, or a playbook directory that overrides one, just loads them itself.
_WARM_PLUGINS = {
    "connection_loader": ("ssh", "local", "winrm", "psrp"),
    "shell_loader": ("sh", "powershell", "cmd"),
    "become_loader": ("sudo", "su", "runas"),
    "strategy_loader": ("linear", "free", "host_pinned"),
    # never ansible-runner's awx_display: it reads the job's artifacts directory at import
    "callback_loader": ("default", "minimal"),
    "cache_loader": ("jsonfile", "memory"),
    "action_loader": ("normal", "copy", "command", "template", "gather_facts", "package"),
    "lookup_loader": ("env", "file", "pipe"),
}
_COLLECTION_FINDER_WARNING = "AnsibleCollectionFinder has already been configured"


@dataclass
class _Job:
    pid: int
    conn: socket.socket
    pidfd: int


class Server:
    def __init__(self, path: str, parent: int, real_program: str) -> None:
        self.path = path
        self.real_program = real_program
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(64)
        self.parent_fd = os.pidfd_open(parent)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.parent_fd, selectors.EVENT_READ, "parent")
        self.jobs: dict[int, _Job] = {}
        self.primed: tuple[Any, ...] | None = None

    # -- the loop -----------------------------------------------------------------------------

    def serve(self) -> None:
        try:
            while True:
                for key, _ in self.selector.select():
                    if key.data == "parent":
                        return  # the engine is gone: nobody will read these jobs' results
                    if key.data == "accept":
                        self._accept()
                    elif key.data[0] == "exit":
                        self._reap(key.data[1])
                    else:
                        self._launcher_gone(key.data[1])
        finally:
            for job in list(self.jobs.values()):
                kill_tree(job.pid)
            self.listener.close()
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            # ansible-core made its local temporary directory (module payload cache) at import;
            # its own atexit clean-up is skipped by the fast exit below.
            local_tmp = getattr(sys.modules.get("ansible.constants"), "DEFAULT_LOCAL_TMP", None)
            if isinstance(local_tmp, str):
                shutil.rmtree(local_tmp, ignore_errors=True)

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(10)
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            uid = struct.unpack("3i", creds)[1]
            request, fds = receive(conn, max_fds=3)
            if uid != os.getuid() or request is None or len(fds) != 3:
                raise ValueError("not a launcher of this user")
            pid = self._spawn(request, fds, conn.fileno())
        except Exception as exc:  # the launcher falls back to the cold program
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            sys.stderr.write(f"prefork: refused a request: {exc!r}\n")
            conn.close()
            return
        pidfd = os.pidfd_open(pid)
        job = _Job(pid, conn, pidfd)
        self.jobs[pid] = job
        self.selector.register(pidfd, selectors.EVENT_READ, ("exit", pid))
        self.selector.register(conn, selectors.EVENT_READ, ("conn", pid))
        try:
            send(conn, {"pid": pid})
        except OSError:
            self._launcher_gone(pid)

    def _spawn(self, request: Mapping[str, Any], fds: list[int], conn_fd: int) -> int:
        argv = [str(a) for a in request["argv"]]
        env = {str(k): str(v) for k, v in dict(request["env"]).items()}
        cwd = str(request["cwd"])
        if self.primed is None:
            self.primed = _prime(env, cwd)
        pid = os.fork()
        if pid == 0:
            _child(
                argv, env, cwd, fds, self.primed, self.real_program, [*self._inherited(), conn_fd]
            )
        for fd in fds:
            os.close(fd)
        fds.clear()  # the caller must not close them again
        return pid

    def _inherited(self) -> list[int]:
        return [
            self.listener.fileno(),
            self.parent_fd,
            *(j.conn.fileno() for j in self.jobs.values()),
            *(j.pidfd for j in self.jobs.values()),
        ]

    def _reap(self, pid: int) -> None:
        job = self.jobs.pop(pid)
        _, status = os.waitpid(pid, 0)
        self.selector.unregister(job.pidfd)
        self.selector.unregister(job.conn)
        os.close(job.pidfd)
        outcome = (
            {"signal": os.WTERMSIG(status)}
            if os.WIFSIGNALED(status)
            else {"exit": os.waitstatus_to_exitcode(status)}
        )
        with contextlib.suppress(OSError):
            send(job.conn, outcome)
        job.conn.close()

    def _launcher_gone(self, pid: int) -> None:
        """The launcher died (ansible-runner kills it at a timeout or a cancel): the job it
        stood for must not go on unobserved."""
        job = self.jobs.get(pid)
        if job is None:
            return
        try:
            data = job.conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(job.conn)
            kill_tree(pid)  # its exit is still reaped through the pidfd


def _prime(env: Mapping[str, str], cwd: str) -> tuple[Any, ...]:
    """Import ansible-core under a job's environment and directory: its configuration is read
    now, once, and every job is checked against it before it may start warm."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for name in _WARM_MODULES:
        importlib.import_module(name)
    constants = importlib.import_module("ansible.constants")
    loader = importlib.import_module("ansible.plugins.loader")
    # ansible-playbook has no --collections-path: its own call would pass no prefix either.
    loader.init_plugin_loader([])
    for loader_name, plugin_names in _WARM_PLUGINS.items():
        plugin_loader = getattr(loader, loader_name)
        for plugin in plugin_names:
            with contextlib.suppress(Exception):  # warming up only: the job loads what it needs
                plugin_loader.get(plugin, class_only=True)
    os.chdir("/")
    return config_key(env, constants.config._config_file)


def _child(
    argv: list[str],
    env: Mapping[str, str],
    cwd: str,
    fds: list[int],
    primed: tuple[Any, ...],
    real_program: str,
    inherited: list[int],
) -> NoReturn:
    code = 255
    try:
        os.setpgid(0, 0)  # its own group: the launcher's relayed signals reach the job only
        for fd in inherited:
            os.close(fd)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        manager = importlib.import_module("ansible.config.manager")
        key = config_key(env, manager.find_ini_config_file())
        warm = key == primed
        # One line per job in the server's log (still fd 2 here): how each step was started,
        # and for a cold one which setting differs (names only: values may be sensitive).
        mode = "warm" if warm else f"cold: differs from the server in {_difference(key, primed)}"
        os.write(2, f"prefork: job {os.getpid()} {mode}\n".encode())
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        if not warm:
            os.execve(real_program, [real_program, *argv[1:]], dict(env))
        # The collection finder was installed by _prime, exactly as this call would install it.
        warnings.filterwarnings("ignore", message=_COLLECTION_FINDER_WARNING)
        sys.argv = ["ansible-playbook", *argv[1:]]
        playbook_cli = importlib.import_module("ansible.cli.playbook")
        try:
            playbook_cli.main(sys.argv)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException as exc:  # the job fails; the server must never run its code
        with contextlib.suppress(Exception):
            sys.stderr.write(f"restore prefork: {exc!r}\n")
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _difference(key: tuple[Any, ...], primed: tuple[Any, ...]) -> str:
    variables, primed_variables = dict(key[0]), dict(primed[0])
    names = sorted(
        n
        for n in variables.keys() | primed_variables.keys()
        if variables.get(n) != primed_variables.get(n)
    )
    if key[1:] != primed[1:]:
        names.append("ansible.cfg")
    return ", ".join(names) or "nothing"


def main() -> None:
    parser = argparse.ArgumentParser(description="restore's prefork ansible-playbook server")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--real", required=True)
    args = parser.parse_args()

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the engine, which stops us
    server = Server(args.socket, args.parent, args.real)
    # Prime now, while the engine still loads its inventory and plans (requests wait in the
    # socket's backlog): the environment is the one ansible-runner will give every job, as
    # ansible-runner itself builds it. If that fails, the first job primes the server instead.
    try:
        from restore.ansible.runner import job_environment

        server.primed = _prime(job_environment({}), "/")
    except Exception as exc:
        sys.stderr.write(f"prefork: could not prime ahead of the first job: {exc!r}\n")
    try:
        server.serve()
    finally:
        # Tearing down a heap full of ansible-core costs the operator a noticeable pause at
        # the end of every run; everything that needs cleaning was cleaned in serve().
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
