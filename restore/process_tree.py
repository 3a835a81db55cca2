"""Kill a process and everything it started, by walking /proc rather than by process group.

ansible-core 2.19's workers move into sessions of their own, so a group kill (what
ansible-runner does on a timeout or cancel) leaves them, and the commands they run on the
controller, going. Parents are still recorded, so the tree can be walked.
"""

from __future__ import annotations

import contextlib
import os
import signal


def kill_tree(root: int) -> None:
    """Kill `root` and all its descendants. Everything found is stopped first, so that
    nothing forks past the walk, then killed."""
    frozen: set[int] = set()
    for _ in range(10):
        found = [p for p in (root, *descendants(root)) if p not in frozen]
        if not found:
            break
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
        frozen.update(found)
    for pid in frozen:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found
