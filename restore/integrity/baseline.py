"""Known-good baselines: one JSON manifest of facts per host, and an index of their hashes.

``capture`` writes ``DIR/<host>.json`` (the host's facts, as the checks gather them) and
``DIR/index.json`` holding each manifest's sha256. Loading refuses a manifest whose hash is
not the indexed one: an intruder who edits a baseline to hide a backdoor is caught, and the
host is reported with an error (never ``clean``) instead of being compared to a forgery.
The index's own sha256 is printed at capture time: keep it in the run book, off the host
that stores the baselines, and pass it back with ``--baseline-sha256`` to detect an index
rewritten together with its manifests.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from restore.errors import InputError
from restore.models import HostSpec

FORMAT = 1
INDEX = "index.json"


def manifest_bytes(host: HostSpec, facts: dict[str, Any], hash_paths: tuple[str, ...]) -> bytes:
    manifest = {
        "format": FORMAT,
        "host": host.name,
        "platform": host.platform.value,
        "captured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "captured_by": f"{getpass.getuser()}@{socket.gethostname()}",
        "address": host.address,
        "hash_paths": list(hash_paths),
        "facts": facts,
    }
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()


def write_baselines(directory: Path, manifests: dict[str, bytes]) -> str:
    """Write manifests and merge them into the index; return the index's sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    index_path = directory / INDEX
    index: dict[str, Any] = {"format": FORMAT, "manifests": {}}
    if index_path.exists():
        index = _read_json(index_path)
        index.setdefault("manifests", {})
    for host, data in manifests.items():
        name = f"{_safe(host)}.json"
        _atomic_write(directory / name, data)
        index["manifests"][host] = {"file": name, "sha256": hashlib.sha256(data).hexdigest()}
    data = (json.dumps(index, indent=1, sort_keys=True) + "\n").encode()
    _atomic_write(index_path, data)
    return hashlib.sha256(data).hexdigest()


@dataclass
class BaselineSet:
    """A loaded baseline directory; ``facts_for`` verifies each manifest on use."""

    directory: Path
    index: dict[str, Any]
    _cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def manifest(self, host: str) -> tuple[dict[str, Any] | None, str | None]:
        entry = self.index.get("manifests", {}).get(host)
        if entry is None:
            return None, None
        path = self.directory / entry["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            return None, f"baseline {path} unreadable: {exc.strerror}"
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            return None, (
                f"baseline {path} does not match the hash in {INDEX}: it was modified after "
                "capture; not compared (re-capture it from a known-good host)"
            )
        manifest = json.loads(data)
        if manifest.get("host") != host:
            return None, f"baseline {path} belongs to {manifest.get('host')!r}, not {host}"
        return manifest, None

    def facts_for(self, host: str) -> tuple[dict[str, Any] | None, str | None]:
        manifest, problem = self.manifest(host)
        return (manifest["facts"] if manifest else None), problem

    def hash_paths(self, host: str) -> tuple[str, ...] | None:
        manifest, _ = self.manifest(host)
        return tuple(manifest["hash_paths"]) if manifest else None


def load_baselines(directory: Path, expected_index_sha256: str | None = None) -> BaselineSet:
    index_path = directory / INDEX
    if not index_path.is_file():
        raise InputError(
            f"no {INDEX} in the baseline directory",
            file=str(directory),
            hint="capture one with `restore baseline capture -i INV -o DIR`",
        )
    raw = index_path.read_bytes()
    if expected_index_sha256 and hashlib.sha256(raw).hexdigest() != expected_index_sha256.lower():
        raise InputError(
            "baseline index does not match --baseline-sha256: the baselines were altered",
            file=str(index_path),
        )
    return BaselineSet(directory=directory, index=_read_json(index_path))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"unreadable JSON: {exc}", file=str(path)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"not a restore baseline index (format {FORMAT})", file=str(path))
    return data


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
