"""Machine-wide allocation of lab host numbers, so that concurrent labs never share addresses.

Host numbers 1..250 give management address 127.0.11.N and production address 127.0.10.N, as
they always did (a small lab's addresses never change). Larger labs (a regional group's
inventory) go on in two /16s of their own: number 251 + k gets 127.11.X.Y (management) and
127.10.X.Y (production) with X = k // 250 and Y = k % 250 + 1, so that the last byte stays in
1..250 like the small range. MAX_HOSTS bounds the registry, not the machine: memory does (each
twin costs a few MB, see bench/lab_scale.py). The registry maps each number to the state dir
that holds it; numbers whose lab is gone (its state file removed) are reclaimed.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from restore.errors import OperationalError

REGISTRY_DIR = Path("/run/restore-lab")
SMALL_RANGE = 250  # numbers with the historic 127.0.1x.N addresses
PER_BLOCK = 250  # numbers per /24 of the large range
MAX_HOSTS = SMALL_RANGE + 40 * PER_BLOCK  # 10,250 twins


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


def _address(number: int, small: str, large: str) -> str:
    if number <= SMALL_RANGE:
        return f"{small}.{number}"
    block, index = divmod(number - SMALL_RANGE - 1, PER_BLOCK)
    return f"{large}.{block}.{index + 1}"


def management_address(number: int) -> str:
    return _address(number, "127.0.11", "127.11")


def production_address(number: int) -> str:
    return _address(number, "127.0.10", "127.10")
