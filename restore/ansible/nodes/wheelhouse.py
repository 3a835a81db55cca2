"""The control side's wheelhouse for execution nodes: the exact ansible-core and ansible-runner
of this venv, their dependencies and pip itself, as wheels for the node's Python and platform.

A node never reaches a package registry: during an attack a hospital site has no internet, and
lab hosts cannot verify TLS anyway. So the wheels are fetched here, once, with pip's own
configuration (whatever index this machine uses; no registry is named in the project), and
streamed to the node over SSH. The versions are those of this venv, so that `transmit` here and
`worker` there speak the same protocol.

A wheelhouse is cached under `<cache>/wheelhouse-<key>`, the key naming everything that decides
its content (versions, Python, platform); it is built in a temporary directory and renamed into
place, so a directory that exists is complete.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from restore.errors import OperationalError

DEFAULT_CACHE = Path("/var/cache/restore")
CACHE_ENV = "RESTORE_WHEELHOUSE_CACHE"
MANIFEST = "wheelhouse.json"
CHECKSUMS = "SHA256SUMS"
DOWNLOAD_TIMEOUT_S = 1800.0

PROBE_COMMAND = (
    "python3 -c 'import sys, platform; "
    "print(sys.implementation.name, sys.version_info[0], sys.version_info[1], "
    "platform.machine(), *platform.libc_ver())'"
)
"""Asks the node for what decides which wheels fit it: one line such as
`cpython 3 11 x86_64 glibc 2.36`."""

_OLDEST_MANYLINUX = 17  # manylinux2014 = manylinux_2_17: nothing older is worth asking for
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


@dataclass(frozen=True)
class Pins:
    """The versions a node must run: those installed in the control venv."""

    ansible_core: str
    ansible_runner: str
    pip: str

    def requirements(self) -> list[str]:
        return [f"ansible-core=={self.ansible_core}", f"ansible-runner=={self.ansible_runner}"]


@dataclass(frozen=True)
class NodePython:
    """The node's python3, as far as choosing wheels goes."""

    implementation: str  # cpython
    major: int
    minor: int
    machine: str  # x86_64, aarch64...
    libc: str  # glibc, musl or "" when unknown
    libc_version: str  # 2.36

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def platform(self) -> str:
        libc = f"{self.libc}{self.libc_version}" if self.libc else "nolibc"
        return f"{self.machine}-{libc}"


@dataclass(frozen=True)
class Wheelhouse:
    path: Path
    key: str
    pins: Pins
    files: tuple[str, ...]  # wheel file names
    built: bool  # False: it came from the cache

    @property
    def pip_wheel(self) -> str:
        return _one_wheel(self.files, "pip", self.pins.pip)

    @property
    def size(self) -> int:
        return sum((self.path / name).stat().st_size for name in self.files)


def control_pins() -> Pins:
    """The versions installed next to this orchestrator (importlib.metadata, never pip list)."""

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise OperationalError(
                f"{name} is not installed in the control side's Python ({sys.executable}); "
                "it is what the node's wheelhouse is pinned to"
                + (
                    ": install pip (python -m ensurepip) to download wheels"
                    if name == "pip"
                    else ""
                )
            ) from None

    return Pins(version("ansible-core"), version("ansible-runner"), version("pip"))


def parse_probe(text: str) -> NodePython:
    """Parse PROBE_COMMAND's output. Raises OperationalError on anything unexpected."""
    words = text.split()
    if len(words) not in (4, 6) or not words[1].isdigit() or not words[2].isdigit():
        raise OperationalError(f"unexpected answer from the node's python3: {text.strip()!r}")
    libc, libc_version = (words[4], words[5]) if len(words) == 6 else ("", "")
    if libc and not re.fullmatch(r"\d+\.\d+", libc_version):
        raise OperationalError(f"unexpected libc version from the node: {libc_version!r}")
    return NodePython(words[0], int(words[1]), int(words[2]), words[3], libc, libc_version)


def platform_tags(node: NodePython) -> list[str]:
    """pip's --platform values for the node, newest first. pip does not widen a given
    manylinux_2_N to older glibc levels by itself, so every compatible level is listed."""
    if node.libc != "glibc":
        if node.libc == "musl":
            raise OperationalError(
                "the node's python3 uses musl libc: only glibc (Debian, RHEL...) nodes are "
                "supported for now"
            )
        raise OperationalError(f"cannot tell the node's C library (python3 says {node.libc!r})")
    major, minor = (int(p) for p in node.libc_version.split("."))
    if major != 2 or minor < _OLDEST_MANYLINUX:
        raise OperationalError(f"the node's glibc {node.libc_version} is too old for manylinux")
    tags: list[str] = []
    for level in range(minor, _OLDEST_MANYLINUX - 1, -1):
        tags.append(f"manylinux_2_{level}_{node.machine}")
        if level in _LEGACY_MANYLINUX:
            tags.append(f"{_LEGACY_MANYLINUX[level]}_{node.machine}")
    return tags


def wheelhouse_key(pins: Pins, node: NodePython) -> str:
    """A file-name-safe key naming everything that decides the wheelhouse's content."""
    key = (
        f"core{pins.ansible_core}-runner{pins.ansible_runner}-pip{pins.pip}-"
        f"{_implementation_tag(node)}{node.major}{node.minor}-{node.platform}"
    )
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


def download_command(pins: Pins, node: NodePython, dest: Path) -> list[str]:
    """`pip download` for the node: binary wheels only (nothing is ever built here or there)."""
    impl = _implementation_tag(node)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--dest",
        str(dest),
        "--only-binary=:all:",
        "--python-version",
        node.version,
        "--implementation",
        impl,
        "--abi",
        f"{impl}{node.major}{node.minor}",
        "--progress-bar",
        "off",
        "--disable-pip-version-check",
        "--no-input",
    ]
    for tag in platform_tags(node):
        command += ["--platform", tag]
    return [*command, *pins.requirements(), f"pip=={pins.pip}"]


def ensure_wheelhouse(
    pins: Pins,
    node: NodePython,
    cache: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Wheelhouse:
    """The wheelhouse for `node`, downloaded once and then taken from the cache. Concurrent
    callers wait for each other on a lock file instead of downloading twice."""
    cache = cache or Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    key = wheelhouse_key(pins, node)
    final = cache / f"wheelhouse-{key}"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        lock = (cache / f".wheelhouse-{key}.lock").open("w")
    except OSError as exc:
        raise OperationalError(
            f"cannot use the wheelhouse cache {cache}: {exc.strerror or exc} "
            f"(set {CACHE_ENV} to a writable directory)"
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / MANIFEST).is_file():
            return _read(final, key, pins)
        _check_pip()
        staging = Path(tempfile.mkdtemp(prefix=f".wheelhouse-{key}.", dir=cache))
        try:
            _download(download_command(pins, node, staging), on_line)
            _write_manifest(staging, key, pins, node)
            if final.exists():  # an incomplete leftover (no manifest) from an older version
                shutil.rmtree(final)
            staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        house = _read(final, key, pins)
        return Wheelhouse(house.path, key, pins, house.files, built=True)


def _implementation_tag(node: NodePython) -> str:
    if node.implementation != "cpython":
        raise OperationalError(
            f"the node's python3 is {node.implementation}: execution nodes need CPython"
        )
    return "cp"


def _one_wheel(files: tuple[str, ...], project: str, version: str) -> str:
    prefix = f"{project.replace('-', '_')}-{version}-"
    for name in files:
        if name.lower().startswith(prefix):
            return name
    raise OperationalError(f"the wheelhouse has no wheel for {project}=={version}")


def _check_pip() -> None:
    """pip download needs pip in the control side's Python; say so plainly if it is missing."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OperationalError(f"cannot run pip with {sys.executable}: {exc}") from None
    if done.returncode != 0:
        raise OperationalError(
            f"cannot download the node's wheels: `{sys.executable} -m pip` does not work "
            f"({(done.stderr or done.stdout).strip()[-300:]}); install pip in the control venv "
            "(python -m ensurepip)"
        )


def _download(command: list[str], on_line: Callable[[str], None] | None) -> None:
    env = {**os.environ, "PIP_NO_INPUT": "1", "PYTHONUNBUFFERED": "1"}
    tail: list[str] = []
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
    except OSError as exc:
        raise OperationalError(f"cannot run pip download: {exc}") from None
    assert process.stdout is not None
    try:
        for raw in process.stdout:
            line = raw.rstrip()
            if not line:
                continue
            tail = [*tail[-19:], line]
            if on_line is not None:
                on_line(line)
        rc = process.wait(timeout=DOWNLOAD_TIMEOUT_S)
    except BaseException:
        process.kill()
        process.wait()
        raise
    if rc != 0:
        reasons = [line for line in tail if "ERROR" in line] or tail[-5:]
        raise OperationalError(
            "pip download of the node's wheelhouse failed (exit "
            f"{rc}): {' | '.join(reasons)[-800:]}; pip uses this machine's own index "
            "configuration (pip config list)"
        )


def _write_manifest(directory: Path, key: str, pins: Pins, node: NodePython) -> None:
    wheels = sorted(p.name for p in directory.iterdir() if p.name.endswith(".whl"))
    for project, version in (
        ("ansible-core", pins.ansible_core),
        ("ansible-runner", pins.ansible_runner),
        ("pip", pins.pip),
    ):
        _one_wheel(tuple(wheels), project, version)
    sums = {name: _sha256(directory / name) for name in wheels}
    (directory / CHECKSUMS).write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    manifest = {
        "key": key,
        "ansible_core": pins.ansible_core,
        "ansible_runner": pins.ansible_runner,
        "pip": pins.pip,
        "python": node.version,
        "platform": node.platform,
        "wheels": sums,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _read(directory: Path, key: str, pins: Pins) -> Wheelhouse:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        files = tuple(sorted(manifest["wheels"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OperationalError(
            f"the cached wheelhouse {directory} is damaged ({exc}); delete it to rebuild"
        ) from None
    missing = [name for name in files if not (directory / name).is_file()]
    if missing:
        raise OperationalError(
            f"the cached wheelhouse {directory} lacks {', '.join(missing)}; delete it to rebuild"
        )
    return Wheelhouse(directory, key, pins, files, built=False)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
