"""State that cannot be turned against root: who may own the state dir, and where caches go.

`restore` runs as root. Its state dir holds the journal, evidence, custody records, reports,
the run lock and the lab's keys; another local user who can write there could forge the
journal, swap a key or plant files that root later reads. So a state dir must belong to the
user running the command and be writable by nobody else, or the command stops (exit 2) and
says how to fix it. New state is private: the CLI sets umask 077 at start (directories 0700,
files 0600; evidence copies are then made 0400 by the evidence store).

Caches are not state: they live in the user's cache folder (`$XDG_CACHE_HOME/restore`, else
`~/.cache/restore`), created 0700, and are used only while that folder is the user's alone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from restore.errors import InputError

PRIVATE_UMASK = 0o077


def check_state_dir(path: Path) -> Path:
    """Refuse a state dir owned by another user or writable by group/others (exit 2).

    A missing dir is fine: it is created later, 0700 under the CLI's umask.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise InputError(f"cannot use state dir: {exc.strerror}", file=str(path)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise InputError("state dir is not a directory", file=str(path), key="--state-dir")
    problem = unsafe_reason(info)
    if problem is not None:
        raise InputError(
            f"refusing state dir: {problem}",
            file=str(path),
            key="--state-dir",
            hint=_fix(path, info),
        )
    return path


def unsafe_reason(info: os.stat_result) -> str | None:
    """Why a folder with this stat is not safe for root's state, or None."""
    if info.st_uid != os.geteuid():
        return f"it belongs to uid {info.st_uid}, not to the user running restore"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"it is writable by {'others' if info.st_mode & stat.S_IWOTH else 'its group'}"
    return None


def _fix(path: Path, info: os.stat_result) -> str:
    fixes = []
    if info.st_uid != os.geteuid():
        fixes.append(f"chown -R {os.geteuid()} {path}")
    fixes.append(f"chmod 700 {path}")
    return "check who else could have written there, then: " + " && ".join(fixes)


def user_cache_dir() -> Path | None:
    """The user's private cache folder for restore, created 0700; None when it is not safe.

    A cache only saves time, so an unusable folder means no cache, never an error.
    """
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    folder = root / "restore"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or unsafe_reason(info) is not None:
        return None
    return folder


def ensure_private(folder: Path) -> Path:
    """Create `folder` (and missing parents) with mode 0700; tighten it if it exists."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        folder.chmod(0o700)
    return folder
