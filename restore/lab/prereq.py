"""System tools the lab needs; a missing one is an input error naming the apt-get command."""

from __future__ import annotations

import os
import shutil

from restore.errors import PrerequisiteError

# tool -> Debian package that provides it
LAB_TOOLS = {
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "mount": "mount",
    "mmdebstrap": "mmdebstrap",
    "nft": "nftables",
    "ssh-keygen": "openssh-client",
    "ssh": "openssh-client",
    "sshd": "openssh-server",
}


def require_lab_tools() -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError(
            "the lab needs root (it creates namespaces, mounts and nftables rules)",
            hint="run as root, e.g. sudo restore lab up",
        )
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = sorted({pkg for tool, pkg in LAB_TOOLS.items() if not shutil.which(tool, path=path)})
    if missing:
        raise PrerequisiteError(
            f"missing system packages for the lab: {', '.join(missing)}",
            hint=f"install them with: apt-get install -y {' '.join(missing)}",
        )
