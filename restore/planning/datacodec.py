"""The project's value types (plans, inventories) to and from JSON: no pickle anywhere.

Why not pickle: loading a pickle runs whatever code its author chose, and the plan cache is a
file on disk that root reads back. This codec builds only the project's own frozen
dataclasses and enums (a fixed list, by name, from restore.models, restore.planning.model
and restore.planning.scheduling.types) from plain JSON values, so a tampered file can at
worst describe a wrong value, or fail to decode (and the value is recomputed).

Encoding, compact because a 10,000-host plan is read on every repeated `restore plan`:
tuples are JSON arrays (a plan's sequences are tuples), a dataclass is ``{"@": name, "f":
[fields in order]}`` the first time and ``{"@r": n}`` when met again, and the rarer values
carry a one-key tag: ``@e`` enum, ``@p`` path, ``@dt`` datetime, ``@l`` list, ``@d`` dict.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from restore import models
from restore.planning import model as plan_model
from restore.planning.scheduling import types as sched_types


def _registry() -> tuple[dict[str, type], dict[str, type[enum.Enum]]]:
    classes: dict[str, type] = {}
    enums: dict[str, type[enum.Enum]] = {}
    for module in (models, plan_model, sched_types):
        for value in vars(module).values():
            if not isinstance(value, type) or value.__module__ != module.__name__:
                continue
            if issubclass(value, enum.Enum):
                enums[value.__name__] = value
            elif dataclasses.is_dataclass(value):
                classes[value.__name__] = value
    return classes, enums


_CLASSES, _ENUMS = _registry()
T = TypeVar("T")
# Fields set by __init__, in order; decoding fills __dict__ directly (these dataclasses have
# no __post_init__ and no slots), several times faster than calling __init__ per object.
_INIT_NAMES = {
    name: tuple(f.name for f in dataclasses.fields(cls) if f.init) for name, cls in _CLASSES.items()
}


class CodecError(ValueError):
    """The value holds something this codec does not carry, or the JSON is not a plan."""


def encode(value: Any) -> bytes:
    """JSON bytes for a value made of the project's dataclasses, enums and plain values."""
    encoded = _Encoder().encode(value)
    return json.dumps(encoded, separators=(",", ":"), ensure_ascii=False).encode()


def decode(data: bytes, expected: type[T]) -> T:
    """The value `encode` was given; CodecError when the bytes do not hold an `expected`."""
    try:
        value = _tuple(json.loads(data, object_hook=_Decoder().object))
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
        raise CodecError(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(value, expected):
        raise CodecError(f"not a {expected.__name__}")
    return value


class _Encoder:
    """One encoding. A dataclass instance met again (a plan shares its hosts' steps and specs
    between several views) is written once and then referenced as ``{"@r": n}``: n counts
    dataclasses in the order their encoding *ends*, which is the order json's object_hook
    builds them back."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}

    def encode(self, value: Any) -> Any:
        if isinstance(value, enum.Enum):  # first: the project's enums are also str
            return {"@e": type(value).__name__, "v": value.value}
        if isinstance(value, str):
            return str(value)  # plain str: ansible-core's tagged strings are subclasses
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, tuple):
            return [self.encode(item) for item in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            index = self.seen.get(id(value))
            if index is not None:
                return {"@r": index}
            name = type(value).__name__
            if _CLASSES.get(name) is not type(value):
                raise CodecError(f"unknown class {name}")
            fields = [self.encode(getattr(value, f)) for f in _INIT_NAMES[name]]
            self.seen[id(value)] = len(self.seen)
            return {"@": name, "f": fields}
        if isinstance(value, Path):
            return {"@p": str(value)}
        if isinstance(value, datetime):
            return {"@dt": value.isoformat()}
        if isinstance(value, list):
            return {"@l": [self.encode(item) for item in value]}
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise CodecError("a dict with non-string keys")
            return {"@d": {str(key): self.encode(item) for key, item in value.items()}}
        raise CodecError(f"cannot encode {type(value).__name__}")


class _Decoder:
    """json's object_hook for one decoding: it is called innermost first, so nested values
    are already decoded; arrays are still lists, turned into tuples here (the project's
    sequences are tuples)."""

    def __init__(self) -> None:
        self.built: list[Any] = []

    def object(self, obj: dict[str, Any]) -> Any:
        if "@" in obj:
            name = obj["@"]
            instance: Any = object.__new__(_CLASSES[name])
            values = [tuple(map(_tuple, v)) if type(v) is list else v for v in obj["f"]]
            instance.__dict__.update(zip(_INIT_NAMES[name], values, strict=True))
            self.built.append(instance)
            return instance
        if "@r" in obj:
            return self.built[obj["@r"]]
        if "@e" in obj:
            return _ENUMS[obj["@e"]](obj["v"])
        if "@p" in obj:
            return Path(obj["@p"])
        if "@dt" in obj:
            return datetime.fromisoformat(obj["@dt"])
        if "@l" in obj:
            return _KeptList(_tuple(item) for item in obj["@l"])
        if "@d" in obj:
            return {key: _tuple(item) for key, item in obj["@d"].items()}
        raise CodecError(f"unknown object {sorted(obj)[:3]}")


class _KeptList(list[Any]):
    """A list that was a list when encoded: `_tuple` leaves it a list."""


def _tuple(value: Any) -> Any:
    if type(value) is list:
        return tuple(map(_tuple, value))
    if type(value) is _KeptList:
        return list(value)
    return value
