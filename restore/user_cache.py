"""The user's cache folder: where planning keeps what it can recompute (inventory, plan).

`restore validate` and `restore plan` are read-only commands people run from anywhere, often
from the folder holding the graph (a git checkout): they must write nothing there. Caches go to
`$XDG_CACHE_HOME/restore` (default `~/.cache/restore`), created private (0700) because a
resolved inventory names every host and address of the hospital.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "XDG_CACHE_HOME"


def user_cache_dir() -> Path:
    """The folder (not created here: the caches create it, 0700, when they first write)."""
    base = os.environ.get(CACHE_ENV) or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "restore"


def ensure_private(folder: Path) -> Path:
    """Create `folder` (and missing parents) with mode 0700; tighten it if it exists."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        folder.chmod(0o700)
    return folder
