"""Load YAML while remembering the line of every key and list item.

Validation errors must name the line a sysadmin has to fix, but plain ``yaml.safe_load`` forgets
where things were. We compose the node tree once and build the data and a path -> line map from
it together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from restore.errors import InputError

# The C loader is several times faster on large graphs; fall back when libyaml is missing.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PathKey = tuple[str | int, ...]


class YamlDocument:
    """Parsed data plus the 1-based line where each path (keys and list indexes) starts."""

    def __init__(self, data: Any, lines: dict[PathKey, int]) -> None:
        self.data = data
        self.lines = lines

    def line_of(self, path: PathKey) -> int | None:
        """The line of the deepest known prefix of ``path``."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse ``path``; every failure becomes an InputError naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a YAML file", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("not a UTF-8 text file (binary?)", file=str(path)) from None
    if "\x00" in text:
        raise InputError("not a text file (contains NUL bytes)", file=str(path))
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or "syntax error"
        raise InputError(f"YAML syntax error: {problem}", file=str(path), line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {exc}", file=str(path)) from None
    if node is None:
        return YamlDocument(None, {})
    lines: dict[PathKey, int] = {}
    try:
        data = _build(node, (), lines)
    except DuplicateKeyError as exc:
        raise InputError(
            f"duplicate key '{exc.key}': first on line {exc.first}, again on line {exc.second}",
            file=str(path),
            line=exc.second,
            key=exc.key,
            hint="keep one of them; YAML keys must be unique",
        ) from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        raise InputError(f"YAML error: {exc}", file=str(path)) from None
    return YamlDocument(data, lines)


class DuplicateKeyError(ValueError):
    """The same key twice in one mapping; names both lines."""

    def __init__(self, key: Any, first: int, second: int) -> None:
        self.key = str(key)
        self.first = first
        self.second = second
        super().__init__(f"duplicate key '{key}' (lines {first} and {second})")


_constructor = yaml.SafeLoader("")  # only its scalar constructor is used


def _build(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, (*path, "<key>"), {})
            if isinstance(key, list | dict):
                raise ValueError(f"line {key_node.start_mark.line + 1}: a key cannot be a list")
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ValueError(
                    f"line {key_node.start_mark.line + 1}: merge keys are not supported"
                )
            line = key_node.start_mark.line + 1
            if key in first_line:
                # YAML says keys are unique, but PyYAML keeps the last one silently: a graph
                # with `priority: 1` then `priority: 7` would validate and mean 7.
                raise DuplicateKeyError(key, first_line[key], line)
            first_line[key] = line
            child = (*path, str(key))
            result[key] = _build(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _constructor.construct_object(node, deep=True)
