"""Load the inventory in a forked child while the parent validates the graph.

A first `restore plan` spends most of its time in two independent jobs: ansible-core reading
the inventory (its imports alone take about 0.3 s) and the graph's validation (pydantic,
networkx). Run one after the other they add up; in a child process they overlap on a second
core, which every machine this runs on has. The child sends back the secret-free inventory
(pickled) or the input error to show; the parent never trusts it for more than that.

Forking is only done when it is safe: a process with other threads could fork while one of
them holds a lock. Anything unexpected in the child (a crash, a signal) makes the parent load
the inventory itself, so the result never depends on the child working.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from restore.errors import InputError
from restore.models import Inventory

_INPUT_ERROR_FIELDS = ("message", "file", "service", "key", "line", "hint")


def start_loading_inventory(source: Path, cache_dir: Path) -> Callable[[], Inventory]:
    """Start loading `source` for planning (no secrets); call the result to get it."""
    from restore.inventory import load_inventory

    def in_this_process() -> Inventory:
        return load_inventory(source, cache_dir=cache_dir)

    if threading.active_count() > 1 or not hasattr(os, "fork"):
        return in_this_process
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: load, report, and leave without running the parent's exit code
        os.close(read_end)
        _child(write_end, in_this_process)
    os.close(write_end)

    def join() -> Inventory:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0 or not payload:
            return in_this_process()
        kind, value = pickle.loads(payload)
        if kind == "error":
            raise InputError(**dict(zip(_INPUT_ERROR_FIELDS, value, strict=True)))
        if not isinstance(value, Inventory):
            return in_this_process()
        return value

    return join


def _child(write_end: int, load: Callable[[], Inventory]) -> None:
    code = 1
    try:
        result: tuple[str, Any]
        try:
            result = ("inventory", load())
        except InputError as exc:
            result = ("error", tuple(getattr(exc, field) for field in _INPUT_ERROR_FIELDS))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        code = 0
    finally:
        os._exit(code)
