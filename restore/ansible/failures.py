"""Why an Ansible task failed, from ansible-runner's events (pure; no ansible import).

ansible-runner hands every event to the orchestrator as data: a `runner_on_failed` or
`runner_on_unreachable` event names the task, the host and the module's result. That, never
the text on stdout, is what the console, the journal and the report say about a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A module's message comes from the host (a compromised one is the attacker's): bounded.
MAX_FAILURE_MESSAGE = 1000


def task_failure(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """Why a task failed, from one ansible-runner event (never from stdout): the task's name,
    the host, the module and its message, or None for an event that is no failure.

    A `command` module's own msg is "non-zero return code": its stderr says why, so both are
    kept; a loop's failure is explained by its first failed item."""
    kind = str(event.get("event", ""))
    data = event.get("event_data") or {}
    if kind not in {"runner_on_failed", "runner_on_unreachable"} or data.get("ignore_errors"):
        return None
    raw_res = data.get("res")
    res: Mapping[str, Any] = raw_res if isinstance(raw_res, Mapping) else {}
    raw_items = res.get("results")
    items: list[Any] = raw_items if isinstance(raw_items, list) else []
    failed_item: Mapping[str, Any] | None = next(
        (i for i in items if isinstance(i, Mapping) and (i.get("failed") or i.get("unreachable"))),
        None,
    )
    source: Mapping[str, Any] = failed_item if failed_item is not None else res
    parts = [str(source.get(key)).strip() for key in ("msg", "stderr") if source.get(key)]
    if not parts and res is not source:
        parts = [str(res.get("msg")).strip()] if res.get("msg") else []
    message = ": ".join(p for p in parts if p) or ("unreachable" if "unreachable" in kind else "")
    if len(message) > MAX_FAILURE_MESSAGE:
        message = message[:MAX_FAILURE_MESSAGE] + f"... ({len(message)} characters)"
    return {
        "task": str(data.get("task") or "?"),
        "host": str(data.get("host") or data.get("remote_addr") or "?"),
        "module": str(data.get("resolved_action") or data.get("task_action") or ""),
        "message": message,
        "unreachable": kind == "runner_on_unreachable",
    }


def play_error(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """An error outside any task (a vault secret missing, a syntax error...), from an `error`
    event: its own text is the only explanation Ansible gives. Used when no task failed."""
    data = event.get("event_data") or {}
    if str(event.get("event", "")) != "error":
        return None
    message = str(event.get("stdout") or "").strip().removeprefix("[ERROR]:").strip()
    if len(message) > MAX_FAILURE_MESSAGE:
        message = message[:MAX_FAILURE_MESSAGE] + f"... ({len(message)} characters)"
    return {
        "task": str(data.get("task") or f"play {data.get('play') or '?'}"),
        "host": str(data.get("host") or data.get("play_pattern") or "?"),
        "module": "",
        "message": message or "error",
        "unreachable": False,
    }


def failure_text(failure: Mapping[str, Any]) -> str:
    """One line for people: `task 'NAME' on HOST (module): MESSAGE`."""
    module = f" ({failure['module']})" if failure.get("module") else ""
    what = "unreachable at task" if failure.get("unreachable") else "task"
    text = f"{what} '{failure.get('task')}' on {failure.get('host')}{module}"
    return text + (f": {failure['message']}" if failure.get("message") else "")


def step_failure_text(detail: Mapping[str, Any]) -> str:
    """Why a step failed, in one line: the failing task when Ansible said which, else the
    step's own message."""
    failure = detail.get("failure")
    if isinstance(failure, Mapping):
        return failure_text(failure)
    for key in ("message", "error", "reason"):
        if detail.get(key):
            return str(detail[key])
    return ""
