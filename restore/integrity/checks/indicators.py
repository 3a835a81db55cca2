"""Indicators of compromise: ransom-note names, encrypted extensions, rootkit module names.

The shipped list (indicators.yaml, next to this module) names the public source of each
entry; ``--indicators FILE`` adds a site's own entries (same format) to it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from restore.errors import InputError

SHIPPED = Path(__file__).with_name("indicators.yaml")


@dataclass(frozen=True)
class Indicators:
    note_patterns: tuple[str, ...]
    extensions: tuple[str, ...]
    rootkit_modules: tuple[str, ...]

    def is_note(self, name: str) -> bool:
        lower = name.lower()
        return any(fnmatch.fnmatchcase(lower, p) for p in self.note_patterns)

    def encrypted_extension(self, name: str) -> str | None:
        lower = name.lower()
        for ext in self.extensions:
            if lower.endswith("." + ext):
                return ext
        return None

    def globs(self) -> tuple[str, ...]:
        """Every name glob a file search must match (notes, then ``*.ext``)."""
        return self.note_patterns + tuple(f"*.{ext}" for ext in self.extensions)


def load_indicators(extra: Path | None = None) -> Indicators:
    notes, exts, modules = _read(SHIPPED)
    if extra is not None:
        more = _read(extra)
        notes, exts, modules = notes + more[0], exts + more[1], modules + more[2]
    return Indicators(
        note_patterns=tuple(dict.fromkeys(notes)),
        extensions=tuple(dict.fromkeys(exts)),
        rootkit_modules=tuple(dict.fromkeys(modules)),
    )


_SECTIONS = {
    "ransom_notes": "pattern",
    "encrypted_extensions": "extension",
    "rootkit_modules": "name",
}


def _read(path: Path) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read indicators: {exc.strerror}", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            f"YAML syntax error: {getattr(exc, 'problem', exc)}",
            file=str(path),
            line=mark.line + 1 if mark else None,
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            "expected a mapping with ransom_notes / encrypted_extensions", file=str(path)
        )
    unknown = set(data) - set(_SECTIONS) - {"version"}
    if unknown:
        raise InputError(
            f"unknown key {sorted(unknown)[0]!r}",
            file=str(path),
            hint=f"valid keys: version, {', '.join(_SECTIONS)}",
        )
    result: list[tuple[str, ...]] = []
    for section, field in _SECTIONS.items():
        values: list[str] = []
        for i, entry in enumerate(data.get(section) or []):
            values.append(_entry_value(entry, field, path, f"{section}[{i}]"))
        result.append(tuple(values))
    return result[0], result[1], result[2]


def _entry_value(entry: Any, field: str, path: Path, key: str) -> str:
    value = entry.get(field) if isinstance(entry, dict) else entry
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"needs a '{field}' string", file=str(path), key=key, hint="see the shipped file"
        )
    value = value.strip().lower()
    if field == "extension":
        value = value.lstrip(".")
    if "'" in value or "/" in value:  # they go into a remote find command, single-quoted
        raise InputError(f"'{value}' may not contain ' or /", file=str(path), key=key)
    return value
