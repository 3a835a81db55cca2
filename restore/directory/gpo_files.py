"""What a GPO's files in SYSVOL deploy: pure parsers of the files an attacker uses.

LockBit and others spread through a GPO: an immediate scheduled task
(`Preferences/ScheduledTasks/ScheduledTasks.xml`), a startup or logon script
(`Scripts/scripts.ini`, `psscripts.ini`), or a registry preference (`Preferences/Registry/
Registry.xml`) that every computer of the domain runs. Each parser turns a file into one
line per thing deployed ("immediate task 'update' runs ... as ..."), and never trusts the
file: a DTD is refused (no entity expansion), a file it cannot account for is a problem
line, never silence. Values are shown escaped (`catalog.raw`): they are the attacker's text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# GPP task elements: the immediate ones run once, at the next policy refresh, on every target
IMMEDIATE_TASKS = ("ImmediateTask", "ImmediateTaskV2")
TASKS = (*IMMEDIATE_TASKS, "Task", "TaskV2")
SCRIPT_FILES = ("scripts.ini", "psscripts.ini")


@dataclass(frozen=True)
class Deployed:
    """What one file deploys (`items`), and what could not be read in it (`problems`)."""

    items: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    executes: bool = False  # a task or script: code that runs on the GPO's targets
    kinds: frozenset[str] = field(default_factory=frozenset)


def describe(path: str, data: bytes) -> Deployed:
    """Dispatch on the file's name (case-insensitive, as Windows reads SYSVOL)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name == "scheduledtasks.xml":
        return scheduled_tasks(data)
    if name in SCRIPT_FILES:
        return scripts_ini(data, name)
    if name == "registry.xml":
        return registry_xml(data)
    return Deployed()


def _xml(data: bytes) -> ET.Element:
    """ValueError for anything but a plain document: no DTD, so no entity can expand."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise ValueError("the file declares a DTD or entities (refused, not expanded)")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None


def raw(text: str, limit: int = 200) -> str:
    """The attacker's text shown on one line: control characters escaped, length bounded.
    Backslashes stay as they are (Windows paths read as paths)."""
    cut = text[: limit + 1]
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return shown if len(cut) <= limit else shown[:limit] + "..."


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(node: ET.Element | None) -> str:
    return (node.text or "").strip() if node is not None else ""


def scheduled_tasks(data: bytes) -> Deployed:
    try:
        root = _xml(data)
    except ValueError as exc:
        return Deployed(problems=(f"ScheduledTasks.xml: {exc}",), executes=True)
    if _local(root.tag) != "ScheduledTasks":
        return Deployed(
            problems=(f"ScheduledTasks.xml: root element {raw(_local(root.tag), 60)}",),
            executes=True,
        )
    items: list[str] = []
    kinds: set[str] = set()
    problems: list[str] = []
    for node in root:  # the GPP items; a task's own definition nests a <Task> too
        kind = _local(node.tag)
        if kind not in TASKS:
            problems.append(f"ScheduledTasks.xml: item {raw(kind, 60)} not understood")
            continue
        props = next((c for c in node if _local(c.tag) == "Properties"), None)
        attrs = props.attrib if props is not None else {}
        commands = [
            " ".join(filter(None, (_text(_find(e, "Command")), _text(_find(e, "Arguments")))))
            for e in node.iter()
            if _local(e.tag) == "Exec"
        ]
        # the v1 form keeps the command in attributes of Properties
        if not commands and attrs.get("appName"):
            commands = [f"{attrs.get('appName', '')} {attrs.get('args', '')}".strip()]
        label = "immediate task" if kind in IMMEDIATE_TASKS else "scheduled task"
        kinds.add("immediate-task" if kind in IMMEDIATE_TASKS else "scheduled-task")
        items.append(
            f"{label} '{raw(node.attrib.get('name', '?'), 80)}' runs "
            f"{raw('; '.join(commands) or '(no command)', 200)} as "
            f"{raw(attrs.get('runAs', '?'), 80)}"
        )
    return Deployed(
        items=tuple(items),
        problems=tuple(problems),
        executes=bool(items or problems),
        kinds=frozenset(kinds),
    )


def _find(node: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in node if _local(c.tag) == name), None)


def _decode(data: bytes) -> str:
    """scripts.ini is UTF-16 (with BOM) when Windows writes it, ANSI when a tool does."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8", "replace")


_INI_LINE = re.compile(r"^(\d+)(CmdLine|Parameters)=(.*)$", re.IGNORECASE)


def scripts_ini(data: bytes, name: str) -> Deployed:
    section = "?"
    scripts: dict[tuple[str, str], dict[str, str]] = {}
    problems: list[str] = []
    for line in _decode(data).splitlines():
        text = line.strip()
        if not text or text.startswith(";"):
            continue
        if text.startswith("[") and text.endswith("]"):
            section = text[1:-1]
            continue
        found = _INI_LINE.match(text)
        if found is None:
            problems.append(f"{name}: line not understood: {raw(text, 120)}")
            continue
        index, key, value = found.groups()
        scripts.setdefault((section, index), {})[key.lower()] = value
    items = [
        f"{raw(section, 40)} script runs {raw(v.get('cmdline', '?'), 200)} "
        f"{raw(v.get('parameters', ''), 120)}".rstrip()
        for (section, _), v in sorted(scripts.items())
    ]
    return Deployed(
        items=tuple(items),
        problems=tuple(problems),
        executes=bool(items) or bool(problems),
        kinds=frozenset({"script"} if items else ()),
    )


def registry_xml(data: bytes) -> Deployed:
    try:
        root = _xml(data)
    except ValueError as exc:
        return Deployed(problems=(f"Registry.xml: {exc}",))
    items = []
    for node in root.iter():
        if _local(node.tag) != "Registry":
            continue
        props = _find(node, "Properties")
        attrs = props.attrib if props is not None else {}
        items.append(
            f"registry {raw(attrs.get('hive', '?'), 40)}\\{raw(attrs.get('key', '?'), 160)} "
            f"{raw(attrs.get('name', ''), 80)}={raw(attrs.get('value', ''), 120)}"
        )
    return Deployed(items=tuple(items), kinds=frozenset({"registry"} if items else ()))
