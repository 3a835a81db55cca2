"""`restore node install`: put the control side's ansible-core and ansible-runner on a node.

Over SSH only (host keys verified), from the control side's wheelhouse: the node needs no
internet and no pip of its own. A minbase Debian has no ensurepip, so the venv is made
`--without-pip` and pip is run from its own wheel (a wheel is a zip, and importable) to install
itself. The wheels are streamed as a tar, checked against their SHA-256 on the node, and
deleted from the node afterwards whatever happens.

A node already at the pinned versions is left alone (unless forced): install is idempotent,
and cheap enough to run before every rehearsal. Either way it (re)places the job agent and
authorizes the job key for it alone (job_access.py).
"""

from __future__ import annotations

import io
import json
import shlex
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from restore.ansible.nodes import NODE_RUNNER, NODE_VENV
from restore.ansible.nodes.job_access import grant
from restore.ansible.nodes.wheelhouse import (
    CHECKSUMS,
    PROBE_COMMAND,
    NodePython,
    Pins,
    Wheelhouse,
    control_pins,
    ensure_wheelhouse,
    parse_probe,
)
from restore.errors import OperationalError
from restore.models import HostSpec
from restore.transports.ssh import SshTransport

NODE_HOME = str(Path(NODE_VENV).parent)  # /opt/restore-node
PYTHON = NODE_VENV + "/bin/python"
COMMAND_TIMEOUT_S = 60.0
PIP_TIMEOUT_S = 900.0
UPLOAD_TIMEOUT_S = 600.0
_CHUNK = 256 * 1024

_VERSIONS_SCRIPT = """\
import importlib.metadata as m, json, sys
def v(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "ansible_core": v("ansible-core"),
                  "ansible_runner": v("ansible-runner"), "pip": v("pip")}))
"""
VERSIONS_COMMAND = f"{PYTHON} -c {shlex.quote(_VERSIONS_SCRIPT)}"
"""Prints the node venv's versions as JSON; fails when there is no venv."""


class InstallProgress(Protocol):
    """What the CLI shows while an install runs (the library prints nothing itself)."""

    def phase(self, text: str) -> None: ...

    def detail(self, text: str) -> None: ...

    def transfer(self, done: int, total: int) -> None: ...


class _Silent:
    def phase(self, text: str) -> None:
        pass

    def detail(self, text: str) -> None:
        pass

    def transfer(self, done: int, total: int) -> None:
        pass


@dataclass(frozen=True)
class InstallResult:
    node: str
    action: str  # installed, reinstalled, upgraded, unchanged
    ansible_core: str
    ansible_runner: str
    pip: str
    python: str
    venv: str
    wheelhouse: str | None  # the cache directory used; None when nothing was needed
    wheelhouse_built: bool
    bytes_sent: int
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def installed_versions(transport: SshTransport) -> dict[str, str | None] | None:
    """The node venv's python and package versions, or None when there is no usable venv."""
    done = transport.run(VERSIONS_COMMAND, COMMAND_TIMEOUT_S)
    if done.rc != 0:
        return None
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return data if isinstance(data, dict) else None


def probe(transport: SshTransport) -> NodePython:
    done = transport.run(PROBE_COMMAND, COMMAND_TIMEOUT_S)
    if done.rc != 0:
        reason = "no python3 on the node" if done.rc == 127 else done.stderr.strip()[-300:]
        raise OperationalError(f"{transport.host}: cannot run python3 ({reason})")
    return parse_probe(done.stdout)


def is_current(versions: dict[str, str | None] | None, pins: Pins, node: NodePython) -> bool:
    return versions is not None and (
        versions.get("python") == node.version
        and versions.get("ansible_core") == pins.ansible_core
        and versions.get("ansible_runner") == pins.ansible_runner
        and versions.get("pip") == pins.pip
    )


def install_node(
    spec: HostSpec,
    *,
    force: bool = False,
    cache: Path | None = None,
    progress: InstallProgress | None = None,
) -> InstallResult:
    """Install or update the node's venv. Raises OperationalError (TransportError included)."""
    show = progress or _Silent()
    started = time.monotonic()
    pins = control_pins()
    transport = SshTransport(spec)
    try:
        show.phase(f"connecting to {spec.name} ({spec.address})")
        transport.connect()
        node = probe(transport)
        before = installed_versions(transport)
        if is_current(before, pins, node) and not force:
            show.phase("job agent and job key")
            grant(transport)
            return _result(spec, "unchanged", pins, node, None, 0, started)
        show.phase(f"wheelhouse for Python {node.version} on {node.platform}")
        house = ensure_wheelhouse(pins, node, cache, show.detail)
        remote = _upload(transport, house, show)
        try:
            action = _install(transport, house, remote, pins, node, before, force, show)
        finally:
            transport.run(f"rm -rf -- {shlex.quote(remote)}", COMMAND_TIMEOUT_S)
        after = installed_versions(transport)
        if not is_current(after, pins, node):
            raise OperationalError(
                f"{spec.name}: after the install the node's venv reports {after}, not "
                f"ansible-core {pins.ansible_core} / ansible-runner {pins.ansible_runner}"
            )
        _run(transport, f"{NODE_RUNNER} --version", "ansible-runner --version", COMMAND_TIMEOUT_S)
        show.phase("job agent and job key")
        grant(transport)
        return _result(spec, action, pins, node, house, house.size, started)
    finally:
        transport.close()


def _result(
    spec: HostSpec,
    action: str,
    pins: Pins,
    node: NodePython,
    house: Wheelhouse | None,
    sent: int,
    started: float,
) -> InstallResult:
    return InstallResult(
        node=spec.name,
        action=action,
        ansible_core=pins.ansible_core,
        ansible_runner=pins.ansible_runner,
        pip=pins.pip,
        python=node.version,
        venv=NODE_VENV,
        wheelhouse=str(house.path) if house else None,
        wheelhouse_built=bool(house and house.built),
        bytes_sent=sent,
        duration_s=round(time.monotonic() - started, 2),
    )


def _run(transport: SshTransport, command: str, what: str, timeout: float) -> str:
    done = transport.run(command, timeout)
    if done.timed_out or done.rc != 0:
        reason = (
            f"timed out after {timeout:.0f} s"
            if done.timed_out
            else (f"exit {done.rc}: " + _tail(done.stderr or done.stdout))
        )
        raise OperationalError(f"{transport.host}: {what} failed ({reason})")
    return done.stdout


def _tail(text: str, lines: int = 6) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-800:] or "no output"


class _ChannelWriter(io.RawIOBase):
    """A write-only file over an SSH channel, counting bytes for the progress bar."""

    def __init__(self, channel: Any, total: int, show: InstallProgress) -> None:
        self.channel = channel
        self.total = total
        self.sent = 0
        self.show = show

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.channel.sendall(chunk)
        self.sent += len(chunk)
        self.show.transfer(min(self.sent, self.total), self.total)
        return len(chunk)


def _upload(transport: SshTransport, house: Wheelhouse, show: InstallProgress) -> str:
    """Stream the wheelhouse as a tar into a fresh directory on the node; check its sums."""
    remote = _run(
        transport,
        f"mkdir -p {NODE_HOME} && chmod 755 {NODE_HOME} && mktemp -d {NODE_HOME}/wheelhouse.XXXXXX",
        f"creating a directory under {NODE_HOME} (the SSH user needs write access there)",
        COMMAND_TIMEOUT_S,
    ).strip()
    if not remote.startswith(NODE_HOME + "/wheelhouse."):
        raise OperationalError(f"{transport.host}: mktemp gave an unexpected path {remote!r}")
    show.phase(f"sending {len(house.files)} wheels ({house.size / 1e6:.1f} MB) to {remote}")
    limit = int(UPLOAD_TIMEOUT_S) + 5
    channel = transport.open_stream(
        f"timeout -s KILL {limit} tar -x -f - -C {shlex.quote(remote)}", UPLOAD_TIMEOUT_S
    )
    try:
        channel.settimeout(UPLOAD_TIMEOUT_S)
        writer = _ChannelWriter(channel, house.size, show)
        with tarfile.open(fileobj=writer, mode="w|", bufsize=_CHUNK) as tar:
            for name in (*house.files, CHECKSUMS):
                tar.add(house.path / name, arcname=name, recursive=False)
        channel.shutdown_write()
        rc = channel.recv_exit_status()
        errors = b""
        while channel.recv_stderr_ready():
            errors += channel.recv_stderr(65536)
    except OSError as exc:  # socket.timeout included
        raise OperationalError(f"{transport.host}: sending the wheelhouse failed: {exc}") from None
    finally:
        channel.close()
    if rc != 0:
        transport.run(f"rm -rf -- {shlex.quote(remote)}", COMMAND_TIMEOUT_S)
        raise OperationalError(
            f"{transport.host}: unpacking the wheelhouse failed (exit {rc}: "
            f"{_tail(errors.decode('utf-8', 'replace'))})"
        )
    show.phase("checking the wheels' SHA-256 on the node")
    try:
        _run(
            transport,
            f"cd {shlex.quote(remote)} && sha256sum --check --quiet --strict {CHECKSUMS}",
            "checking the wheelhouse's SHA-256",
            COMMAND_TIMEOUT_S,
        )
    except OperationalError:
        transport.run(f"rm -rf -- {shlex.quote(remote)}", COMMAND_TIMEOUT_S)
        raise
    return remote


def _install(
    transport: SshTransport,
    house: Wheelhouse,
    remote: str,
    pins: Pins,
    node: NodePython,
    before: dict[str, str | None] | None,
    force: bool,
    show: InstallProgress,
) -> str:
    """venv (fresh when forced, missing or on another Python), pip from its wheel, then the
    pinned packages; all with --no-index from the uploaded directory. Returns the action."""
    fresh = force or before is None or before.get("python") != node.version
    if fresh:
        show.phase(f"creating {NODE_VENV} (python3 -m venv --without-pip)")
        _run(
            transport,
            f"rm -rf -- {NODE_VENV} && python3 -m venv --without-pip {NODE_VENV}",
            "python3 -m venv --without-pip",
            COMMAND_TIMEOUT_S,
        )
    pip_options = (
        f"--no-index --find-links {shlex.quote(remote)} --no-cache-dir "
        "--disable-pip-version-check --no-input --progress-bar off"
    )
    if fresh or (before or {}).get("pip") != pins.pip:
        show.phase(f"installing pip {pins.pip} from its own wheel")
        wheel = shlex.quote(f"{remote}/{house.pip_wheel}")
        _run(
            transport,
            f"{PYTHON} {wheel}/pip install {pip_options} pip=={pins.pip}",
            "installing pip from its wheel",
            PIP_TIMEOUT_S,
        )
    show.phase(f"installing ansible-core {pins.ansible_core}, ansible-runner {pins.ansible_runner}")
    requirements = " ".join(shlex.quote(r) for r in pins.requirements())
    _run(
        transport,
        f"{PYTHON} -m pip install {pip_options} {requirements}",
        "pip install of ansible-core and ansible-runner",
        PIP_TIMEOUT_S,
    )
    if before is None or before.get("ansible_runner") is None:
        return "installed"
    return "reinstalled" if fresh else "upgraded"
