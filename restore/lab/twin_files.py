"""Files the lab puts into a twin's root, with the modes the twin's own packages would give them.

The CLI keeps its own state private with umask 077 (restore.state_dir), and that umask is the
process's, shared by every thread: a run may be writing 0600 journal rows and evidence while
the lab reimages a twin. So the lab never changes it. Instead every directory and file it
writes into a twin's overlay upper dir (which becomes the twin's "/", /etc, /usr...) gets an
explicit mode, and every process the twin runs starts with TWIN_UMASK (subprocess's `umask=`,
set in the child only). A directory created 0700 there would hide /usr or /etc from every
service running as another user (postgres, samba's helpers).
"""

from __future__ import annotations

import os
from pathlib import Path

# What Debian's packages and daemons expect (the umask of a stock root shell).
TWIN_UMASK = 0o022
DIR_MODE = 0o755
FILE_MODE = 0o644


def make_dirs(path: Path, mode: int = DIR_MODE) -> Path:
    """`mkdir -p` whose new directories get exactly `mode` (mkdir's own mode is masked by the
    umask); directories that exist already keep theirs."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        folder.chmod(mode)
    return path


def write_file(path: Path, data: str | bytes, mode: int = FILE_MODE) -> None:
    """Write `data` to `path` with exactly `mode` set before its first byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode & 0o700)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)
        out.write(data.encode() if isinstance(data, str) else data)
