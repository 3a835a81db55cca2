"""Parsers of a step's argument (the value after `ansible:`, `health:`, `approve:`...).

Each step kind names one of these (restore.inputs.step_kinds). A parser returns the argument
as the run will use it, or reports every problem to its `ArgumentSite` and returns None: the
graph loader collects all problems of a file before it refuses it (DESIGN §3).

Kept free of pydantic and networkx (the graph loader's), so that the step kind registry stays
cheap to import for planning and reporting.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from restore.inputs.typos import did_you_mean

HEALTH_PROBES = ("tcp", "http", "command")


class ArgumentSite(Protocol):
    """Where a step's argument was written: its kind's name, how to report a problem there,
    and how a playbook reference resolves (against the graph's playbook_dir)."""

    @property
    def step_name(self) -> str: ...

    def problem(self, message: str, hint: str | None = None) -> None: ...

    def playbook(self, ref: str) -> Path: ...


ArgumentParser = Callable[[Any, ArgumentSite], Any]


def no_argument(value: Any, site: ArgumentSite) -> None:
    """`- evidence`, `- check`: a bare word; a value would be silently ignored, so refuse it."""
    if value is not None:
        site.problem(f"'{site.step_name}' takes no value", hint=f"write `- {site.step_name}`")
    return None


def text(what: str) -> ArgumentParser:
    """A non-empty text argument, `what` saying what it is for the error message."""
    return lambda value, site: _text(value, site, what)


def _text(value: Any, site: ArgumentSite, what: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        site.problem(f"needs {what}")
        return None
    return value


def playbook_path(value: Any, site: ArgumentSite) -> str | None:
    """A playbook that must exist now: relative paths resolve against playbook_dir."""
    ref = _text(value, site, "a playbook path")
    return None if ref is None else str(site.playbook(ref))


def powershell(value: Any, site: ArgumentSite) -> str | None:
    """A winrm: step's PowerShell must parse here, not fail on the night on a real host."""
    script = _text(value, site, "a PowerShell script")
    if script is None:
        return None
    from restore.inputs.powershell_syntax import syntax_problems  # tree-sitter: only when needed

    for problem in syntax_problems(script, limit=3):
        site.problem(
            f"the PowerShell does not parse (script line {problem.line}, column "
            f"{problem.column}): {problem.message}",
            hint="fix the script; `restore validate` parses every winrm: step",
        )
    return script


def directory_action(value: Any, site: ArgumentSite) -> str | None:
    """One of the directory actions a domain controller's step can run."""
    from restore.directory.role import ACTIONS

    if value not in ACTIONS:
        site.problem(
            f"unknown directory action {value!r}",
            hint=did_you_mean(str(value), ACTIONS) or f"one of {', '.join(ACTIONS)}",
        )
        return None
    return str(value)


_PROBE_EXAMPLE = "e.g. `health: {tcp: 8443}`, `{http: https://lis.test/health}` or `{command: CMD}`"


def health_probe(value: Any, site: ArgumentSite) -> dict[str, Any] | None:
    """Exactly one probe: `{tcp: PORT}`, `{http: URL}` or `{command: CMD}`."""
    if not isinstance(value, dict) or len(value) != 1:
        site.problem("needs exactly one probe: tcp, http or command", hint=_PROBE_EXAMPLE)
        return None
    ((probe, target),) = value.items()
    if probe not in HEALTH_PROBES:
        site.problem(
            f"unknown probe '{probe}'",
            hint=did_you_mean(str(probe), HEALTH_PROBES) or _PROBE_EXAMPLE,
        )
        return None
    if probe == "tcp" and not (
        isinstance(target, int) and not isinstance(target, bool) and 0 < target < 65536
    ):
        site.problem(f"tcp probe needs a port number 1-65535, got {target!r}")
        return None
    if probe != "tcp" and (not isinstance(target, str) or not target.strip()):
        site.problem(f"{probe} probe needs a non-empty string")
        return None
    if probe == "command" and not _splits(target, site):
        return None
    return {probe: target}


def _splits(command: str, site: ArgumentSite) -> bool:
    """A command probe runs as an argv list, never by a shell (restore.execution.steps.health):
    it must split, and its placeholders format, now."""
    try:
        for part in shlex.split(command):
            part.format(host="h", name="n")
    except (KeyError, IndexError, ValueError) as exc:
        site.problem(
            f"command probe {command!r} cannot be split into arguments: {exc}",
            hint="it runs without a shell; placeholders are {host} and {name}",
        )
        return False
    return True
