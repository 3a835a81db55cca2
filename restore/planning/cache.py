"""Reuse a computed plan when nothing it was computed from has changed.

The key covers the graph file's bytes, the inventories' content key (every file each `-i` was
read from, in order; a dynamic inventory is never cached), the options and the tool's version.
Playbooks are only checked for existence by validation, so a cached plan is used only if every
playbook it names still exists; otherwise the plan is recomputed and validation reports the problem.

The cache is JSON (restore.planning.datacodec: no pickle, so a tampered file cannot run code) in the
user's private cache folder (restore.state_dir.user_cache_dir, 0700), not in the state dir.
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from restore import __version__
from restore.inputs.inventory import inventory_cache_key
from restore.models import StepType
from restore.planning.datacodec import CodecError, decode, encode
from restore.planning.model import RestorePlan

# Bump when the plan's content changes for the same inputs (e.g. a new scheduler).
_FORMAT = 3  # 3: GraphSpec.rehearsal_seeds


def _key(
    graph_file: Path, inventories: Sequence[Path], only: str | None, max_parallel: Sequence[int]
) -> str | None:
    inventory_key = inventory_cache_key(inventories)
    if inventory_key is None:
        return None
    try:
        graph_bytes = graph_file.read_bytes()
    except OSError:
        return None
    digest = hashlib.sha256(f"{__version__}:{_FORMAT}:{graph_file.resolve()}".encode())
    digest.update(hashlib.sha256(graph_bytes).digest())
    digest.update(f"{inventory_key}:{only}:{list(max_parallel)}".encode())
    return digest.hexdigest()


def _playbooks_exist(plan: RestorePlan) -> bool:
    network = plan.graph.network
    paths = [p for p in (network.quarantine, network.reconnect) if p is not None]
    for svc in plan.graph.services:
        paths += [Path(s.argument) for s in svc.steps or () if s.type is StepType.ANSIBLE]
    return all(p.is_file() for p in paths)


def _decode_paused(data: bytes) -> RestorePlan:
    # A 10,000-host plan is hundreds of thousands of objects that all stay alive: cycle
    # collection while building them only costs time (about a third of the load).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return decode(data, RestorePlan)
    finally:
        if was_enabled:
            gc.enable()


def cached_plan(
    cache_dir: Path | None,
    graph_file: Path,
    inventories: Sequence[Path],
    only: str | None,
    max_parallel: Sequence[int],
    compute: Callable[[], RestorePlan],
) -> RestorePlan:
    key = _key(graph_file, inventories, only, max_parallel) if cache_dir is not None else None
    if cache_dir is None or key is None:
        return compute()
    target = cache_dir / f"plan-{key}.json"
    if target.is_file():
        try:
            plan: RestorePlan | None = _decode_paused(target.read_bytes())
        except (OSError, CodecError):  # a stale or truncated cache only costs a recomputation
            plan = None
        if plan is not None and _playbooks_exist(plan):
            return plan
    plan = compute()
    try:
        data = encode(plan)
        for old in cache_dir.glob("plan-*.json"):
            old.unlink(missing_ok=True)  # keep one plan: the cache must not grow forever
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    except (OSError, CodecError):
        pass
    return plan
