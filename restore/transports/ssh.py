"""SSH through paramiko, with host keys verified exactly as Ansible would verify them.

Host keys come from the files named by ``-o UserKnownHostsFile=`` in the inventory's
``ansible_ssh_common_args`` / ``ansible_ssh_extra_args`` (or ANSIBLE_SSH_ARGS), then from
``~/.ssh/known_hosts`` and ``/etc/ssh/ssh_known_hosts``. An unknown or changed key is refused
(RejectPolicy): after a ransomware attack a changed key is exactly what an attacker in the
middle looks like, and a reimaged host's new key arrives through the reimage provider.

One connection per host is reused for every command. Each command is bounded twice: by a
local deadline on the channel (a hung host cannot stall the caller), and by ``timeout`` on the
host itself, so a command abandoned here does not run on there forever.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import time
from pathlib import Path

import paramiko

from restore.models import CommandOutput, HostSpec
from restore.transports.base import (
    DEFAULT_COMMAND_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    HostKeyError,
    TransportError,
)
from restore.transports.bounded import (
    DEFAULT_MAX_STDERR_BYTES,
    DEFAULT_MAX_STDOUT_BYTES,
    Capped,
    decode,
)

# Under the `restore` logger, whose handlers (and redaction) restore.logs configures.
_log = logging.getLogger("restore.transports.ssh")
_SYSTEM_KNOWN_HOSTS = (Path("~/.ssh/known_hosts"), Path("/etc/ssh/ssh_known_hosts"))

# What a caller holding a raw channel (the execution-node link) needs, so that only this
# package imports paramiko (DESIGN §2).
SshChannel = paramiko.Channel
SSH_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, paramiko.SSHException)


def ssh_options(host: HostSpec) -> dict[str, list[str]]:
    """``-o Key=Value`` options from the inventory's ssh args, keys lower-cased."""
    raw = " ".join(
        str(host.var(name) or "")
        for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args")
    )
    raw += " " + os.environ.get("ANSIBLE_SSH_ARGS", "")
    options: dict[str, list[str]] = {}
    words = shlex.split(raw)
    for i, word in enumerate(words):
        option = None
        if word == "-o" and i + 1 < len(words):
            option = words[i + 1]
        elif word.startswith("-o") and len(word) > 2:
            option = word[2:]
        if option is None:
            continue
        key, _, value = option.replace("=", " ", 1).partition(" ")
        options.setdefault(key.strip().lower(), []).append(value.strip())
    return options


def known_hosts_files(host: HostSpec) -> list[Path]:
    files: list[Path] = []
    for value in ssh_options(host).get("userknownhostsfile", []):
        files += [Path(p).expanduser() for p in value.split()]
    files += [p.expanduser() for p in _SYSTEM_KNOWN_HOSTS]
    return [p for p in files if p.is_file()]


class SshTransport:
    max_stdout_bytes = DEFAULT_MAX_STDOUT_BYTES

    def __init__(self, host: HostSpec) -> None:
        self.host = host.name
        self._spec = host
        self._client: paramiko.SSHClient | None = None

    # -- connection ---------------------------------------------------------------------------

    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        if self._client is not None and self._alive():
            return
        spec = self._spec
        client = paramiko.SSHClient()
        files = known_hosts_files(spec)
        for path in files:
            try:
                client.load_host_keys(str(path))
            except (OSError, paramiko.SSHException) as exc:
                raise TransportError(
                    f"{spec.name}: cannot read known_hosts {path}: {exc}"
                ) from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        key_file = spec.var("ansible_ssh_private_key_file") or spec.var("ansible_private_key_file")
        password = spec.secret("ansible_password") or spec.secret("ansible_ssh_pass")
        try:
            sock = socket.create_connection((spec.address, spec.port), timeout=timeout)
        except OSError as exc:
            raise TransportError(
                f"{spec.name}: cannot connect to {spec.address}:{spec.port}: {exc}"
            ) from None
        try:
            client.connect(
                spec.address,
                port=spec.port,
                username=spec.user or "root",
                key_filename=str(Path(key_file).expanduser()) if key_file else None,
                password=password or None,
                sock=sock,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
                allow_agent=False,
                look_for_keys=key_file is None and not password,
            )
        except paramiko.BadHostKeyException as exc:
            sock.close()
            raise HostKeyError(
                f"{spec.name}: host key for {spec.address} differs from known_hosts "
                f"({exc.key.get_name()}); refusing to connect"
            ) from None
        except paramiko.SSHException as exc:
            sock.close()
            if "not found in known_hosts" in str(exc):
                searched = ", ".join(str(p) for p in files) or "no known_hosts file found"
                raise HostKeyError(
                    f"{spec.name}: host key of {spec.address} is unknown (searched: {searched}); "
                    "add it through a trusted path, never by trust-on-first-use"
                ) from None
            raise TransportError(f"{spec.name}: ssh: {exc}") from None
        except (OSError, EOFError) as exc:
            sock.close()
            raise TransportError(f"{spec.name}: ssh: {exc or type(exc).__name__}") from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        self._client = client

    def _alive(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return transport is not None and transport.is_active()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- commands -----------------------------------------------------------------------------

    def run(
        self, command: str, timeout: float = DEFAULT_COMMAND_TIMEOUT_S, *, drain: bool = False
    ) -> CommandOutput:
        out = Capped(self.max_stdout_bytes, keep_tail=drain)
        err = Capped(DEFAULT_MAX_STDERR_BYTES, keep_tail=drain)
        rc, duration, timed_out = self._exec(command, timeout, out, err)
        return CommandOutput(
            rc=rc,
            stdout=out.text(),
            stderr=err.text(),
            duration_s=duration,
            timed_out=timed_out,
            truncated=out.truncated or err.truncated,
        )

    def get(self, remote: str, local: Path, max_bytes: int, timeout: float) -> int:
        # `head -c` keeps a big file from crossing the wire, but the host may lie (a replaced
        # `head`): the cap that counts is the one applied here, while writing to disk. Only a
        # regular file is read: a FIFO or a device would hang or stream forever.
        q = shlex.quote(remote)
        command = (
            f"[ -f {q} ] || {{ echo 'not a regular file' >&2; exit 3; }}; "
            f"exec head -c {int(max_bytes)} -- {q}"
        )
        err = Capped(DEFAULT_MAX_STDERR_BYTES)
        with local.open("wb") as sink:
            out = Capped(max_bytes, sink)
            rc, _, timed_out = self._exec(command, timeout, out, err)
        if out.full:  # the host sent more than asked for: keep the capped copy
            return out.size
        if timed_out or rc != 0:
            reason = "timed out" if timed_out else decode(err.value()).strip()
            raise TransportError(f"{self.host}: cannot read {remote}: {reason}")
        return out.size

    def put(self, local: Path, remote: str, timeout: float) -> None:
        err = Capped(DEFAULT_MAX_STDERR_BYTES)
        rc, _, timed_out = self._exec(
            f"cat > {shlex.quote(remote)}",
            timeout,
            Capped(DEFAULT_MAX_STDERR_BYTES),
            err,
            stdin=local.read_bytes(),
        )
        if timed_out or rc != 0:
            reason = "timed out" if timed_out else decode(err.value()).strip()
            raise TransportError(f"{self.host}: cannot write {remote}: {reason}")

    def open_stream(self, command: str, timeout: float) -> paramiko.Channel:
        """Start `command` and return its channel, for a caller that streams stdin and stdout
        itself (ansible-runner's worker protocol). The caller owns and closes the channel."""
        transport = self._live_transport()
        try:
            channel = transport.open_session(timeout=timeout)
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TransportError(f"{self.host}: ssh channel failed: {exc}") from None
        return channel

    def _live_transport(self) -> paramiko.Transport:
        """The connection, opened again once if it dropped since the last command.

        A flooding host's connection can die while the control node walks away from a channel
        it cut at the cap (an RST under load); the next command then gets a fresh, verified
        connection instead of the whole host being called unreachable.
        """
        if self._client is not None and not self._alive():
            _log.warning("%s: ssh connection dropped; connecting again", self.host)
            self.close()
        if self._client is None:
            self.connect()
        transport = self._client.get_transport() if self._client else None
        if transport is None or not transport.is_active():
            raise TransportError(f"{self.host}: ssh connection lost")
        return transport

    def _start(self, remote: str, deadline: float, stdin: bytes | None) -> paramiko.Channel:
        """Open a channel and start ``remote``; one more try on a fresh connection if the old
        one died under us (never more: a host that always drops us is unreachable)."""
        for attempt in (1, 2):
            transport = self._live_transport()
            try:
                channel = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
                channel.exec_command(remote)
                if stdin is not None:
                    channel.sendall(stdin)
                    channel.shutdown_write()
                return channel
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if attempt == 2 or transport.is_active() or time.monotonic() >= deadline:
                    raise TransportError(f"{self.host}: ssh channel failed: {exc}") from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _exec(
        self,
        command: str,
        timeout: float,
        out: Capped,
        err: Capped,
        stdin: bytes | None = None,
    ) -> tuple[int, float, bool]:
        """Run ``command``, streaming into ``out``/``err``; (rc, seconds, timed out).

        Reading stops at the deadline or as soon as a cap is exceeded: the channel is then
        closed, so paramiko's window (not the host) bounds what is buffered here.
        """
        started = time.monotonic()
        deadline = started + timeout
        # The host kills the command a little after our own deadline, so nothing lingers there.
        remote_limit = max(1, int(timeout) + 5)
        remote = f"timeout -s KILL {remote_limit} /bin/sh -c {shlex.quote(command)}"
        channel = self._start(remote, deadline, stdin)
        timed_out = False
        try:
            while not (out.full or err.full):
                while channel.recv_ready() and out.feed(channel.recv(1 << 16)):
                    pass
                while channel.recv_stderr_ready() and err.feed(channel.recv_stderr(1 << 16)):
                    pass
                if out.full or err.full:
                    break
                if (
                    channel.exit_status_ready()
                    and channel.eof_received
                    and not channel.recv_ready()
                    and not channel.recv_stderr_ready()
                ):
                    break
                if channel.closed and not channel.recv_ready():
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                select.select([channel], [], [], min(remaining, 1.0))
        finally:
            channel.close()
        cut = out.full or err.full
        rc = (
            -1
            if timed_out or cut or not channel.exit_status_ready()
            else channel.recv_exit_status()
        )
        if rc == 137 and time.monotonic() - started >= timeout:  # killed by the host's bound
            timed_out = True
        return rc, time.monotonic() - started, timed_out
