"""The resolved, secret-free inventory cached in the user's private cache folder.

Loading a big inventory is dominated by ansible-core itself (seconds at 10,000 hosts), so the
result is cached (restore.state_dir.user_cache_dir), keyed by the content of every file it
was read from. A dynamic inventory (an executable or an inventory plugin config) is never
cached: its output can change with nothing on disk changing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from restore import __version__
from restore.models import Credential, HostSpec, Inventory, Platform
from restore.state_dir import ensure_private

_CACHE_FORMAT = 1


def source_files(path: Path) -> Iterator[Path] | None:
    """Every file the inventory is read from, or None when it is dynamic (never cached)."""
    roots = [path]
    base = path if path.is_dir() else path.parent
    roots += [base / "group_vars", base / "host_vars"]
    files: list[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(p for p in sorted(root.rglob("*")) if p.is_file())
    for file in files:
        if os.access(file, os.X_OK) and file.suffix not in {".yml", ".yaml", ".ini", ".json"}:
            return None
        if file == path and file.suffix in {".yml", ".yaml"}:
            head = file.read_text(errors="replace")[:4096]
            if re.search(r"^plugin\s*:", head, re.M):
                return None
    return iter(files)


def combined_cache_key(paths: Sequence[Path]) -> str | None:
    """Content key of several sources in order; None if any of them is dynamic."""
    if len(paths) == 1:
        return _cache_key(paths[0])
    keys = [_cache_key(p) for p in paths]
    if any(k is None for k in keys):
        return None
    return hashlib.sha256(":".join(k for k in keys if k).encode()).hexdigest()


def _cache_key(path: Path) -> str | None:
    files = source_files(path)
    if files is None:
        return None
    digest = hashlib.sha256(f"{__version__}:{_CACHE_FORMAT}:{path.resolve()}".encode())
    for file in files:
        digest.update(str(file).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def write_cache(cache_dir: Path, key: str, inventory: Inventory) -> None:
    data = {
        "source": inventory.source,
        "groups": [[name, list(members)] for name, members in inventory.groups],
        "hosts": [
            {
                "name": h.name,
                "platform": h.platform.value,
                "address": h.address,
                "port": h.port,
                "user": h.user,
                "credential": [h.credential.kind, h.credential.reference],
                "groups": list(h.groups),
                "vars": dict(h.connection_vars),
            }
            for h in inventory.hosts
        ],
    }
    try:
        ensure_private(cache_dir)  # it names every host and address: for its owner only
        tmp = cache_dir / f".inventory-{key}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, separators=(",", ":")))
        tmp.replace(cache_dir / f"inventory-{key}.json")
    except OSError:
        pass  # a cache that cannot be written only costs time


def read_cache(cache_dir: Path, key: str, source: str) -> Inventory | None:
    try:
        data = json.loads((cache_dir / f"inventory-{key}.json").read_text())
        hosts = tuple(
            HostSpec(
                name=h["name"],
                platform=Platform(h["platform"]),
                address=h["address"],
                port=h["port"],
                user=h["user"],
                credential=Credential(kind=h["credential"][0], reference=h["credential"][1]),
                groups=tuple(h["groups"]),
                connection_vars=tuple(sorted(h["vars"].items())),
            )
            for h in data["hosts"]
        )
        groups = tuple((g[0], tuple(g[1])) for g in data["groups"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Inventory(source=source, hosts=hosts, groups=groups)
