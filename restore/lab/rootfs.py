"""The lab's golden image: a Debian root filesystem built once with mmdebstrap.

Cached machine-wide (not per state dir, so tests, molecule and the demo share one build)
under $RESTORE_LAB_CACHE (default /var/cache/restore-lab), keyed by the suite and the package
list, built under a lock so concurrent labs never build twice; `lab up --rebuild-rootfs` adds
a generation and never deletes one that a running lab host still uses. Every package a lab
host needs is included at build time: inside a lab host there is no TLS to package registries.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from restore.errors import OperationalError

SUITE = "bookworm"
# python3: Ansible; restic and postgresql: the data-restore roles; nftables: the quarantine
# role; cron: persistence scenarios and checks; procps/iproute2/kmod: the integrity checks;
# python3-cryptography: NTLM sealing (RC4) for the pyspnego that the Windows hosts' WS-Man
# endpoint is given from the control side (Debian bookworm packages no pyspnego).
PACKAGES = (
    "openssh-server",
    "python3",
    "procps",
    "iproute2",
    "nftables",
    "cron",
    "restic",
    "postgresql",
    "sudo",
    "kmod",
    "ca-certificates",
    "python3-cryptography",
)


# Every file of the golden image (and of a twin's fresh identity) is dated 2000-01-01 UTC: well
# before any incident a graph can declare, so a fresh twin is clean against "files changed since
# the incident" whatever the incident's date, and two builds of the image carry the same times.
GOLDEN_EPOCH = 946684800
# Bumped when the recipe changes what a built image holds (2: file times set to GOLDEN_EPOCH),
# so that images built by an older recipe are not reused.
RECIPE = 2


def cache_root() -> Path:
    return Path(os.environ.get("RESTORE_LAB_CACHE", "/var/cache/restore-lab"))


def rootfs_key(packages: tuple[str, ...] = PACKAGES) -> str:
    text = f"{SUITE}:{','.join(sorted(packages))}" + (f":recipe{RECIPE}" if RECIPE > 1 else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_rootfs(
    rebuild: bool = False,
    packages: tuple[str, ...] = PACKAGES,
    in_use: Callable[[], set[Path]] = set,
) -> Path:
    """Return the current golden image for `packages`, building it (about a minute) if needed.

    A rebuild makes a new generation next to the old one instead of replacing it: running
    lab hosts (of any lab on this machine) have the old one as their overlay's lower dir, and
    deleting it under them would corrupt them. Old generations go once `in_use()` (the
    rootfs paths recorded by every registered lab) no longer names them.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    key = rootfs_key(packages)
    with (root / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = _current(root, key)
        if current is not None and not rebuild:
            return current
        built = _build(root, key, packages)
        pointer = root / f"current-{key}"
        pointer.with_suffix(".tmp").write_text(built.name + "\n")
        pointer.with_suffix(".tmp").replace(pointer)
        keep = {built.resolve(), *(path.resolve() for path in in_use())}
        for generation in root.glob(f"rootfs-{key}*"):
            if generation.resolve() not in keep:
                shutil.rmtree(generation, ignore_errors=True)
        return built


def is_built(packages: tuple[str, ...] = PACKAGES) -> bool:
    """Whether the golden image exists already (callers show progress while it is built)."""
    return built(packages) is not None


def built(packages: tuple[str, ...] = PACKAGES) -> Path | None:
    """The golden image of these packages, when it is built already."""
    return _current(cache_root(), rootfs_key(packages))


def _current(root: Path, key: str) -> Path | None:
    """The generation the pointer names, or the first build (which has no pointer)."""
    pointer = root / f"current-{key}"
    candidates = [root / pointer.read_text().strip()] if pointer.exists() else []
    candidates.append(root / f"rootfs-{key}")
    for candidate in candidates:
        if (candidate / ".complete").exists():
            return candidate
    return None


def _build(root: Path, key: str, packages: tuple[str, ...]) -> Path:
    target = root / f"rootfs-{key}.{time.time_ns()}"  # unique even for two rebuilds a second
    building = root / f".building-{target.name}"
    shutil.rmtree(building, ignore_errors=True)
    log = root / "mmdebstrap.log"
    cmd = ["mmdebstrap", "--variant=minbase", f"--include={','.join(packages)}", SUITE]
    with log.open("w") as out:
        result = subprocess.run(
            [*cmd, str(building)],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            umask=0o022,  # the image's own files keep Debian's modes, whatever the CLI's umask
        )
    if result.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise OperationalError(
            f"building the lab rootfs failed (rc {result.returncode}); see {log}"
        )
    # Host keys baked by the package would be shared by every host: each host gets its own.
    for host_key in (building / "etc" / "ssh").glob("ssh_host_*"):
        host_key.unlink()
    set_golden_times(building)
    (building / ".complete").write_text(" ".join(packages) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    return target


def set_golden_times(root: Path) -> int:
    """Date every file, directory and link under root to GOLDEN_EPOCH (links themselves, not
    their targets); returns how many entries were dated."""
    count = 0
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in (*files, *dirs):
            path = os.path.join(folder, name)
            os.utime(path, (GOLDEN_EPOCH, GOLDEN_EPOCH), follow_symlinks=False)
            count += 1
    os.utime(root, (GOLDEN_EPOCH, GOLDEN_EPOCH))
    return count
