"""Machine-wide allocation of lab host numbers, so that concurrent labs never share addresses.

Host number N gives management address 127.0.11.N and production address 127.0.10.N. The
registry maps each number to the state dir that holds it; numbers whose lab is gone (its
state file removed) are reclaimed.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from restore.errors import OperationalError

REGISTRY_DIR = Path("/run/restore-lab")
MAX_HOSTS = 250


@contextmanager
def _registry() -> Iterator[dict[str, str]]:
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    path = REGISTRY_DIR / "numbers.json"
    with (REGISTRY_DIR / "numbers.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        yield data
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)


def allocate(owner: Path, count: int) -> list[int]:
    with _registry() as data:
        for slot, holder in list(data.items()):
            if not (Path(holder) / "lab" / "lab.json").exists():
                del data[slot]  # its lab is gone
        free = [n for n in range(1, MAX_HOSTS + 1) if str(n) not in data]
        if len(free) < count:
            raise OperationalError(
                f"no room for {count} more lab hosts ({MAX_HOSTS - len(free)} in use on this "
                "machine); bring other labs down with `restore lab down`"
            )
        chosen = free[:count]
        for number in chosen:
            data[str(number)] = str(owner.resolve())
        return chosen


def release(numbers: list[int]) -> None:
    with _registry() as data:
        for number in numbers:
            data.pop(str(number), None)


def owners() -> list[Path]:
    """State dirs of every lab registered on this machine (for `restore lab down --all`)."""
    with _registry() as data:
        return sorted({Path(holder) for holder in data.values()})


def management_address(number: int) -> str:
    return f"127.0.11.{number}"


def production_address(number: int) -> str:
    return f"127.0.10.{number}"
