"""Start and stop one lab host: a real sshd (or WS-Man endpoint) in its own mount, PID and UTS
namespaces, on an overlayfs root whose upper dir lives on a tmpfs.

The recipe (DESIGN §7): `unshare --mount --pid --uts --fork --kill-child` runs a boot script
that mounts the overlay, /proc, /run, /tmp and a minimal /dev, then runs the host's daemons
chrooted. `unshare --fork` ignores SIGTERM, so a host is stopped with SIGKILL to the holder
PID; `--kill-child` then ends the whole PID namespace and its mounts vanish with it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from restore.errors import OperationalError
from restore.lab.twin_files import TWIN_UMASK

BOOT_SCRIPT = """#!/bin/bash
set -eu
R={merged}
mount -t overlay overlay -o lowerdir={rootfs},upperdir={rw}/upper,workdir={rw}/work "$R"
mount -t proc proc "$R/proc"
mount -t sysfs -o ro sysfs "$R/sys" 2>/dev/null || true
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount -t tmpfs -o mode=755 tmpfs "$R/dev"
for d in null zero random urandom tty; do touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
ln -sf pts/ptmx "$R/dev/ptmx"
mount -t tmpfs tmpfs "$R/dev/shm"
hostname {hostname}
mkdir -p "$R/run/sshd"
{daemons}
wait
"""

LINUX_DAEMONS = (
    'chroot "$R" /usr/local/bin/restore-lab-app >/dev/null 2>&1 &\n'
    'chroot "$R" /usr/sbin/sshd -D -f /etc/ssh/restore_sshd_config -E /var/log/restore-sshd.log &'
)


def mount_tmpfs(path: Path, size: str = "1g") -> None:
    path.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(path):
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=755", "tmpfs", str(path)], check=True
        )


def unmount(path: Path) -> None:
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], check=False)


def start(
    host_dir: Path,
    rootfs: Path,
    hostname: str,
    daemons: str,
    wait_for: tuple[str, int],
    timeout_s: float = 15.0,
) -> int:
    """Boot the host; return the holder PID once `wait_for` (address, port) accepts."""
    merged = host_dir / "merged"
    merged.mkdir(parents=True, exist_ok=True)
    script = host_dir / "boot.sh"
    script.write_text(
        BOOT_SCRIPT.format(
            merged=shlex.quote(str(merged)),
            rootfs=shlex.quote(str(rootfs)),
            rw=shlex.quote(str(host_dir / "rw")),
            hostname=shlex.quote(hostname),
            daemons=daemons,
        )
    )
    log = (host_dir / "boot.log").open("wb")
    holder = subprocess.Popen(
        [
            "unshare",
            "--mount",
            "--pid",
            "--uts",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "/bin/bash",
            str(script),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # survives the CLI's exit; `lab down` ends it by PID
        # the twin's daemons create files as on a stock host, whatever the CLI's private umask
        umask=TWIN_UMASK,
    )
    log.close()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if holder.poll() is not None:
            raise OperationalError(
                f"lab host {hostname} exited during boot; see {host_dir / 'boot.log'}"
            )
        if port_open(*wait_for, timeout=0.2):
            return holder.pid
        time.sleep(0.05)
    kill(holder.pid)
    raise OperationalError(
        f"lab host {hostname} did not listen on {wait_for[0]}:{wait_for[1]} in {timeout_s:.0f}s; see {host_dir / 'boot.log'}"
    )


def port_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead for our purposes
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def kill(pid: int | None, wait_s: float = 5.0) -> None:
    """SIGKILL the holder (unshare --fork ignores SIGTERM) and wait for it to go."""
    if not pid or not alive(pid):
        return
    # the host's daemons die with its PID namespace, a moment after the holder: until they
    # are gone their sockets still answer on the host's address, and a host booted again
    # there (a reimage) would pass for up on the old one's port, then refuse
    daemons = descendants(pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + wait_s
    while alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    while any(_running(d) for d in daemons) and time.monotonic() < deadline:
        time.sleep(0.02)


def _running(pid: int) -> bool:
    """Not gone and not a zombie (a zombie holds no socket)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the host's daemons), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    stack = list(children.get(pid, []))
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def holders_under(hosts_dir: Path) -> list[int]:
    """PIDs of `unshare` holders running a boot script under `hosts_dir` (this lab's own)."""
    found = []
    prefix = str(hosts_dir) + "/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            args
            and args[0].endswith(b"unshare")
            and any(
                a.decode(errors="replace").startswith(prefix) and a.endswith(b"/boot.sh")
                for a in args
            )
        ):
            found.append(int(entry.name))
    return found


def signal_host(holder_pid: int, sig: signal.Signals) -> None:
    for pid in descendants(holder_pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def run_inside(
    holder_pid: int, merged: Path, script: str, timeout_s: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run a shell script as root inside the host's filesystem (the lab's own trusted path)."""
    return subprocess.run(
        ["nsenter", "-t", str(holder_pid), "-m", "chroot", str(merged), "/bin/sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        umask=TWIN_UMASK,  # as the twin's own root shell would
    )
