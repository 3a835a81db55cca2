"""The lab's golden image: a Debian root filesystem built once with mmdebstrap.

Cached machine-wide (not per state dir, so tests, molecule and the demo share one build)
under $RESTORE_LAB_CACHE (default /var/cache/restore-lab), keyed by the suite and the package
list, built under a lock so concurrent labs never build twice. Every package a lab host needs
is included at build time: inside a lab host there is no TLS to package registries.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from restore.errors import OperationalError

SUITE = "bookworm"
# python3: Ansible; restic and postgresql: the data-restore roles; nftables: the quarantine
# role; cron: persistence scenarios and checks; procps/iproute2/kmod: the integrity checks.
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
)


def cache_root() -> Path:
    return Path(os.environ.get("RESTORE_LAB_CACHE", "/var/cache/restore-lab"))


def rootfs_key(packages: tuple[str, ...] = PACKAGES) -> str:
    return hashlib.sha256(f"{SUITE}:{','.join(sorted(packages))}".encode()).hexdigest()[:16]


def ensure_rootfs(rebuild: bool = False, packages: tuple[str, ...] = PACKAGES) -> Path:
    """Return the path of the cached rootfs, building it (about a minute) if needed."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"rootfs-{rootfs_key(packages)}"
    with (root / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if rebuild and target.exists():
            shutil.rmtree(target)
        if (target / ".complete").exists():
            return target
        building = root / f".building-{target.name}"
        shutil.rmtree(building, ignore_errors=True)
        log = root / "mmdebstrap.log"
        cmd = [
            "mmdebstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            SUITE,
            str(building),
        ]
        with log.open("w") as out:
            result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            raise OperationalError(
                f"building the lab rootfs failed (rc {result.returncode}); see {log}"
            )
        # Host keys baked by the package would be shared by every host: each host gets its own.
        for key in (building / "etc" / "ssh").glob("ssh_host_*"):
            key.unlink()
        (building / ".complete").write_text(" ".join(packages) + "\n")
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
        return target
