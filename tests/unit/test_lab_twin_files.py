"""A twin's files get its packages' modes without the lab ever touching the process umask.

The CLI runs with umask 077 and that umask is shared by every thread of the process: a run
writes 0600 journal rows and evidence while the lab reimages twins. These tests reimage a twin
(its boot itself replaced: no namespaces here, tests/integration/test_lab_cli.py boots real
ones) under umask 077 and check that os.umask is never called and that every file the lab put
into the twin's root has the mode a stock install gives it.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from restore.lab import runtime, twin_files
from restore.lab.lab import Lab


@pytest.fixture
def private_umask() -> Iterator[None]:
    saved = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(saved)


@pytest.fixture
def umask_calls(monkeypatch: pytest.MonkeyPatch, private_umask: None) -> list[int]:
    """Every os.umask call made by anything under test (from any thread)."""
    calls: list[int] = []
    real = os.umask

    def spy(mask: int) -> int:
        calls.append(mask)
        return real(mask)

    monkeypatch.setattr(os, "umask", spy)
    return calls


@pytest.fixture
def booted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The namespaces and the tmpfs are left out; everything the lab writes is kept."""
    started: list[str] = []

    def start(host_dir: Path, *args: object, **kwargs: object) -> int:
        started.append(host_dir.name)
        return 4_000_000  # no such PID: the twin counts as stopped afterwards

    monkeypatch.setattr(runtime, "start", start)
    monkeypatch.setattr(
        runtime, "mount_tmpfs", lambda path: path.mkdir(parents=True, exist_ok=True)
    )
    return started


def _lab_with(state: Path, platform: str) -> Lab:
    lab_dir = state / "lab"
    lab_dir.mkdir(parents=True)
    (lab_dir / "id_ed25519.pub").write_text("ssh-ed25519 AAAAC3Nza restore-lab\n")
    rootfs = state / "rootfs"
    (rootfs / "usr" / "bin").mkdir(parents=True)
    # the image's python3, which the PowerShell parser copied into Windows twins must fit
    (rootfs / "usr" / "bin" / "python3").symlink_to(f"python3.{sys.version_info.minor}")
    host = {
        "name": "twin01",
        "platform": platform,
        "number": 1,
        "management": "127.0.11.1",
        "production": "127.0.10.1",
    }
    (lab_dir / "lab.json").write_text(
        json.dumps({"id": "ab12cd", "rootfs": str(rootfs), "hosts": [host]})
    )
    return Lab(state)


def _modes(root: Path) -> dict[str, int]:
    modes = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        modes[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return modes


def test_reimaging_a_linux_twin_never_touches_the_umask(
    tmp_path: Path, umask_calls: list[int], booted: list[str]
) -> None:
    lab = _lab_with(tmp_path / "state", "linux")

    lab.reset("twin01")

    assert booted == ["twin01"]
    assert umask_calls == []
    upper = lab.dir / "hosts" / "twin01" / "rw" / "upper"
    modes = _modes(upper)
    private = {"root": 0o700, "root/.ssh": 0o700, "root/.ssh/authorized_keys": 0o600}
    assert {name: modes[name] for name in private} == private
    assert modes["etc/ssh/ssh_host_ed25519_key"] == 0o600
    assert modes["usr/local/bin/restore-lab-app"] == 0o755
    for name in ("etc/hostname", "etc/ssh/ssh_host_ed25519_key.pub", "etc/restore-lab-app.json"):
        assert modes[name] == 0o644, name
    folders = {name for name in modes if (upper / name).is_dir() and name not in private}
    assert {".", "etc", "usr", "usr/local/bin", "var/log", "srv/data"} <= folders
    assert {name: modes[name] for name in folders} == dict.fromkeys(folders, 0o755)
    # the lab's own state stays the CLI's: private
    assert stat.S_IMODE((lab.dir / "lab.json").stat().st_mode) == 0o600


def test_reimaging_a_windows_twin_never_touches_the_umask(
    tmp_path: Path, umask_calls: list[int], booted: list[str]
) -> None:
    lab = _lab_with(tmp_path / "state", "windows")

    lab.reset("twin01")

    assert booted == ["twin01"]
    assert umask_calls == []
    install = lab.dir / "hosts" / "twin01" / "rw" / "upper" / "opt" / "restore-wsman"
    modes = _modes(install)
    for secret in ("server.key", "ntlm_users", "config.json"):
        assert modes[secret] == 0o600, secret
    for public in ("server.py", "server.pem", "vendor/spnego/__init__.py"):
        assert modes[public] == 0o644, public
    assert modes["vendor/tree_sitter/__init__.py"] == 0o644
    for folder in (install, install.parent, install / "vendor", install / "vendor" / "spnego"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder


def test_a_twin_file_has_its_mode_before_its_first_byte(
    tmp_path: Path, private_umask: None
) -> None:
    """A file made private ends private (its mode set before the write); folders get theirs."""
    path = tmp_path / "secret"
    path.write_text("old")
    path.chmod(0o644)
    twin_files.write_file(path, "new", 0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "new"
    folder = twin_files.make_dirs(tmp_path / "a" / "b", 0o755)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (folder.parent, folder)] == [0o755, 0o755]
