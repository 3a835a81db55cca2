"""`health: {tcp: PORT} | {http: URL} | {command: CMD}`: is the service answering?

Probes retry until they pass or the step's deadline: a service that was just rebuilt takes a
moment to listen. A dry run only says what it would probe: the service it probes is rebuilt by
steps that a dry run does not run. TCP and HTTP probes go to
the host's management address (`ansible_host`): the production address is cut while the host
is quarantined, and a health check must pass *before* reconnecting.

A `command` probe runs on the control node, as root, with inventory values in it: it is never
given to a shell. The template (written by the graph's author) is split into an argv list with
shlex first, and only then are `{host}` and `{name}` substituted, one argv element at a time,
so that a host named `web01;id>x;` or an `ansible_host` of `$(touch /tmp/pwned)` stays one
literal argument.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, succeeded

_PAUSE_S = 1.0


def _probe(ctx: StepContext, spec: dict[str, Any], budget: float) -> tuple[bool, str]:
    if "tcp" in spec:
        port = int(spec["tcp"])
        try:
            with socket.create_connection((ctx.host.address, port), timeout=min(budget, 5.0)):
                return True, f"tcp {ctx.host.address}:{port} open"
        except OSError as exc:
            return False, f"tcp {ctx.host.address}:{port}: {exc}"
    if "http" in spec:
        url = str(spec["http"]).format(host=ctx.host.address, name=ctx.host.name)
        try:
            with urllib.request.urlopen(url, timeout=min(budget, 10.0)) as response:
                return response.status < 400, f"GET {url}: {response.status}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return False, f"GET {url}: {exc}"
    if "command" in spec:
        try:
            argv = command_argv(str(spec["command"]), ctx.host.address, ctx.host.name)
        except ValueError as exc:
            return False, f"health command {spec['command']!r}: {exc}"
        command = shlex.join(argv)
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=budget,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"{command}: timed out"
        except OSError as exc:
            return False, f"{command}: {exc.strerror or exc}"
        return done.returncode == 0, f"{command}: exit {done.returncode}"
    return False, f"unknown health probe {sorted(spec)}"


def command_argv(template: str, address: str, name: str) -> list[str]:
    """The argv of a `command` probe: split first, substitute after (never a shell).

    Raises ValueError for a template that does not split (unbalanced quotes) or names an
    unknown placeholder.
    """
    parts = shlex.split(template)
    if not parts:
        raise ValueError("empty command")
    try:
        return [part.format(host=address, name=name) for part in parts]
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"bad placeholder {exc}; use {{host}} or {{name}}") from None


def _spec(ctx: StepContext) -> dict[str, Any]:
    return ctx.step.argument if isinstance(ctx.step.argument, dict) else {}


def would(ctx: StepContext) -> StepOutcome:
    """The dry run's: what it probes is rebuilt by steps a dry run only describes."""
    probe = ", ".join(f"{kind} {target}" for kind, target in _spec(ctx).items())
    return dry(
        f"would probe {probe} on {ctx.host.name} ({ctx.host.address}) until it answers, "
        f"for up to {ctx.timeout_s:.0f}s"
    )


def run(ctx: StepContext) -> StepOutcome:
    spec = _spec(ctx)
    deadline = time.monotonic() + ctx.timeout_s
    attempts = 0
    while True:
        attempts += 1
        budget = max(0.5, deadline - time.monotonic())
        ok, message = _probe(ctx, spec, budget)
        if ok:
            return succeeded(message, attempts=attempts)
        if ctx.cancel.is_set() or time.monotonic() + _PAUSE_S >= deadline:
            return failed(message, attempts=attempts)
        ctx.progress(f"try {attempts}, last: {message}")
        ctx.cancel.wait(_PAUSE_S)
