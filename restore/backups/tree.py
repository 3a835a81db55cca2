"""A snapshot's files as restic lists them, and what their paths mean on a host.

Paths are those of the snapshot's root: a backup of a whole host (`restic backup /`, or
`restic backup .` run from a host's root) lists ``/etc/passwd``. A snapshot of one data
folder simply has no system paths, and the system checks find nothing to judge there.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

# restic's mode carries Go's os.FileMode type bits above the permission bits.
_PERM_MASK = 0o7777
_EXEC_BITS = 0o111


@dataclass(frozen=True)
class Node:
    path: str
    type: str  # file, dir, symlink, dev, chardev, fifo, socket, irregular
    size: int
    mode: int
    mtime: str
    ctime: str
    uid: int
    gid: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def executable(self) -> bool:
        return self.type == "file" and bool(self.mode & _PERM_MASK & _EXEC_BITS)

    def content_key(self) -> tuple[str, int, str, str, int, int, int]:
        """The identity under which a file's content is read once across snapshots.

        It is restic's own change test: `restic backup` reuses a file's content blobs from
        the parent snapshot when path, size, mtime and ctime are unchanged, so an unchanged
        key means unchanged content blobs. (ctime cannot be set back without changing the
        clock: a trojaned binary with a forged mtime still gets a new key.)
        """
        return (self.path, self.size, self.mtime, self.ctime, self.mode, self.uid, self.gid)


def node_from_json(raw: dict[str, Any]) -> Node:
    """One node of `restic find --json`; odd values become safe defaults, never a crash."""

    def number(key: str) -> int:
        value = raw.get(key, 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return Node(
        path=str(raw.get("path", "")),
        type=str(raw.get("type", "irregular")),
        size=number("size"),
        mode=number("mode"),
        mtime=str(raw.get("mtime", "")),
        ctime=str(raw.get("ctime", "")),
        uid=number("uid"),
        gid=number("gid"),
    )


# -- what paths mean ---------------------------------------------------------------------------

SYSTEM_DIRS = (
    "/bin/",
    "/sbin/",
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
    "/lib/",
    "/lib64/",
    "/usr/lib/",
    "/usr/lib64/",
    "/usr/libexec/",
    "/usr/local/lib/",
)

# The host checks' persistence catalog (restore.integrity.checks.persistence) applied to a
# snapshot's paths, plus the files a login shell runs. Windows-side data: scheduled tasks
# and start-up folders are files; run keys live in registry hives (REGISTRY_HIVES).
CRON = ("/etc/crontab", "/etc/cron.d/*", "/etc/cron.*/*", "/var/spool/cron/*")
SYSTEMD = (
    "/etc/systemd/system/*",
    "/run/systemd/system/*",
    "/etc/systemd/user/*",
    "/usr/lib/systemd/system/*",
    "/lib/systemd/system/*",
)
INIT = ("/etc/rc.local", "/etc/init.d/*")
SHELL_STARTUP = (
    "/etc/profile",
    "/etc/profile.d/*",
    "/etc/bash.bashrc",
    "/etc/environment",
    "/root/.bashrc",
    "/root/.profile",
    "/root/.bash_profile",
    "/root/.bash_login",
    "/home/*/.bashrc",
    "/home/*/.profile",
    "/home/*/.bash_profile",
    "/home/*/.bash_login",
)
WINDOWS_AUTOSTART = (
    "*/windows/system32/tasks/*",
    "*/microsoft/windows/start menu/programs/startup/*",
)
# A backed-up Windows volume's registry hives whose autostart values are read
# (restore.backups.registry_hives), by kind: the machine's SOFTWARE hive, each user's.
REGISTRY_HIVES = (
    ("*/windows/system32/config/software", "software"),
    ("*/users/*/ntuser.dat", "ntuser"),
    ("*/documents and settings/*/ntuser.dat", "ntuser"),
)
PASSWD = "/etc/passwd"
PRELOAD = "/etc/ld.so.preload"
_AUTHORIZED_KEYS = re.compile(r"/\.ssh/authorized_keys2?$")


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    # fnmatch's * crosses '/', so '/etc/cron.d/*' covers nested files too; names are
    # matched as data, never expanded by a shell.
    lower = path.lower()
    return any(fnmatch.fnmatchcase(lower, p) for p in patterns)


def persistence_kind(path: str) -> str | None:
    """Which persistence family a path belongs to, or None."""
    if _matches(path, CRON):
        return "cron"
    if _matches(path, SYSTEMD):
        return "systemd"
    if _matches(path, INIT):
        return "init"
    if _matches(path, SHELL_STARTUP):
        return "shell_startup"
    if _matches(path, WINDOWS_AUTOSTART):
        return "windows_autostart"
    return None


def registry_hive_kind(path: str) -> str | None:
    """``software`` or ``ntuser`` for a registry hive file (names compared without case,
    as Windows does), else None."""
    lower = path.lower()
    if not lower.endswith(("/software", "/ntuser.dat")):
        return None  # most paths: spared the patterns (this runs for every node listed)
    for pattern, kind in REGISTRY_HIVES:
        if fnmatch.fnmatchcase(lower, pattern):
            return kind
    return None


def is_authorized_keys(path: str) -> bool:
    return bool(_AUTHORIZED_KEYS.search(path))


def in_system_dir(path: str) -> bool:
    return path.startswith(SYSTEM_DIRS)


def needs_text(path: str) -> bool:
    """Files whose content the analysis parses (kept in memory, capped)."""
    return path in (PASSWD, PRELOAD) or is_authorized_keys(path)
