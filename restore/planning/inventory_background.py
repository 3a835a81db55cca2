"""Load the inventory in a forked child while the parent does everything else.

A first `restore plan` spends most of its time in two independent jobs: ansible-core reading
the inventory (its imports alone take about 0.3 s) and the graph's validation (pydantic,
networkx), plus the command line's own imports. Run one after the other they add up; in a
child process they overlap on a second core, which every machine this runs on has. The child
sends back the secret-free inventory (as JSON, restore.planning.datacodec) or the input
error to show.

Forking is only done when it is safe: a process with other threads could fork while one of
them holds a lock. Anything unexpected in the child (a crash, a signal) makes the parent load
the inventory itself, so the result never depends on the child working.

The entry point may start a load before the command line is parsed (`start_early`); the
command then picks it up by its paths, and a load nobody asked for is killed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from restore.errors import InputError
from restore.inputs.inventory import InventorySource, inventory_paths
from restore.models import Inventory
from restore.planning.datacodec import decode, encode
from restore.process_tree import kill_tree

_INPUT_ERROR_FIELDS = ("message", "file", "service", "key", "line", "hint")


@dataclass
class InventoryLoad:
    """An inventory being loaded, in a child (`child` is its pid) or, failing that, here."""

    result: Callable[[], Inventory]
    child: int | None = None
    reader: int | None = None  # the pipe the child answers on

    def cancel(self) -> None:
        """Not needed after all (the graph was refused, the plan was cached): end the child
        now rather than wait for a load nobody will read."""
        if self.child is not None:
            kill_tree(self.child)  # with what it runs, such as a dynamic inventory script
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.child, 0)
            self.child = None
        if self.reader is not None:
            os.close(self.reader)
            self.reader = None


_started_early: dict[tuple[tuple[Path, ...], Path | None], InventoryLoad] = {}


def _early_key(
    source: InventorySource, cache_dir: Path | None
) -> tuple[tuple[Path, ...], Path | None]:
    return tuple(p.absolute() for p in inventory_paths(source)), (
        cache_dir.absolute() if cache_dir is not None else None
    )


def start_early(source: InventorySource, cache_dir: Path | None) -> None:
    """Start loading before the command is parsed (see the module's docstring)."""
    load = _start(source, cache_dir)
    if load.child is not None:
        _started_early[_early_key(source, cache_dir)] = load
        atexit.register(_cancel_unused_early_loads)


def start_loading_inventory(source: InventorySource, cache_dir: Path | None) -> InventoryLoad:
    """Start loading `source` (one or several `-i`) for planning (no secrets); `.result()`
    gives it."""
    early = _started_early.pop(_early_key(source, cache_dir), None)
    return early or _start(source, cache_dir)


def _cancel_unused_early_loads() -> None:
    for load in _started_early.values():
        load.cancel()
    _started_early.clear()


def _start(source: InventorySource, cache_dir: Path | None) -> InventoryLoad:
    from restore.inputs.inventory import load_inventory

    def in_this_process() -> Inventory:
        return load_inventory(source, cache_dir=cache_dir)

    if threading.active_count() > 1 or not hasattr(os, "fork"):
        return InventoryLoad(in_this_process)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: load, report, and leave without running the parent's exit code
        os.close(read_end)
        _child(write_end, in_this_process)
    os.close(write_end)

    def from_the_child() -> Inventory:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        load.child = load.reader = None
        if os.waitstatus_to_exitcode(status) != 0 or not payload:
            return in_this_process()
        if payload[:1] == b"E":
            fields = json.loads(payload[1:])
            raise InputError(**dict(zip(_INPUT_ERROR_FIELDS, fields, strict=True)))
        return decode(payload[1:], Inventory)

    load = InventoryLoad(from_the_child, pid, read_end)
    return load


def _child(write_end: int, load: Callable[[], Inventory]) -> None:
    # Everything the child allocates stays alive until it exits: cycle collection is waste.
    gc.disable()
    code = 1
    try:
        # Never hold the caller's terminal or pipes: `restore plan | jq` must see its EOF
        # when the program ends, whatever the child is doing. Errors go back by the pipe.
        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        # One byte says what follows: I + the inventory, E + the input error's fields.
        try:
            result = b"I" + encode(load())
        except InputError as exc:
            fields = [getattr(exc, field) for field in _INPUT_ERROR_FIELDS]
            result = b"E" + json.dumps(fields).encode()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(result)
        code = 0
    finally:
        os._exit(code)
