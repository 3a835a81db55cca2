"""`health: {tcp: PORT} | {http: URL} | {command: CMD}`: is the service answering?

Probes retry until they pass or the step's deadline: a service that was just rebuilt takes a
moment to listen. A dry run only says what it would probe: the service it probes is rebuilt by
steps that a dry run does not run. TCP and HTTP probes go to
the host's management address (`ansible_host`): the production address is cut while the host
is quarantined, and a health check must pass *before* reconnecting.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from restore.steps.base import StepContext, StepOutcome, dry, failed, succeeded

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
        command = str(spec["command"]).format(host=ctx.host.address, name=ctx.host.name)
        try:
            done = subprocess.run(
                command, shell=True, capture_output=True, timeout=budget, check=False
            )
        except subprocess.TimeoutExpired:
            return False, f"{command}: timed out"
        return done.returncode == 0, f"{command}: exit {done.returncode}"
    return False, f"unknown health probe {sorted(spec)}"


def run(ctx: StepContext) -> StepOutcome:
    spec = ctx.step.argument if isinstance(ctx.step.argument, dict) else {}
    if ctx.dry_run:  # what it probes is rebuilt by steps a dry run only describes
        probe = ", ".join(f"{kind} {target}" for kind, target in spec.items())
        return dry(
            f"would probe {probe} on {ctx.host.name} ({ctx.host.address}) until it answers, "
            f"for up to {ctx.timeout_s:.0f}s"
        )
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
