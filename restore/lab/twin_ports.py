"""Which TCP ports a lab twin must listen on so that its graph's health probes can pass.

A real graph probes what its services really serve (`health: {tcp: 53}`, `{tcp: 5432}`,
`{http: "http://{host}:8080/"}`). A twin that does not listen there makes the probe wait out
its whole timeout, and a rehearsal would need edits to the graph. Each twin therefore gets a
trivial responder (restore.lab.app: HTTP 200 with the host name) on every port its service's
health steps name, next to the lab's own ports (SSH_PORT, APP_PORT; WinRM on Windows twins).

A probe that comes after a rebuild step (ansible, ssh, winrm) of the same host is left to what
that step starts: the rebuild brings the real service up on its port (PostgreSQL on 5432 in the
example hospital), and a responder already holding the port would make it fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from restore.models import StepSpec, StepType
from restore.planning.model import BoundHost

# Ports a twin already serves with something else: never given to the responder.
RESERVED = frozenset({22, 5985, 5986})
# Steps that may start the real service on a probed port.
REBUILDS = frozenset({StepType.ANSIBLE, StepType.SSH, StepType.WINRM})


def probed_ports(steps: Iterable[StepSpec]) -> list[int]:
    """TCP ports named by health steps: `tcp: N`, or the port of an `http:` URL."""
    ports: list[int] = []
    for step in steps:
        if step.type in REBUILDS:
            break  # from here on, the host's own rebuild serves its ports
        if step.type is not StepType.HEALTH or not isinstance(step.argument, Mapping):
            continue
        port: int | None = None
        if "tcp" in step.argument:
            try:
                port = int(step.argument["tcp"])
            except (TypeError, ValueError):
                port = None
        elif "http" in step.argument:
            # `{host}` placeholders make the URL unparsable as it is; the port is what counts
            url = str(step.argument["http"]).replace("{host}", "h").replace("{name}", "h")
            try:
                split = urlsplit(url)
                port = split.port or (443 if split.scheme == "https" else 80)
            except ValueError:
                port = None
        if port is not None and 0 < port < 65536 and port not in RESERVED:
            ports.append(port)
    return sorted(set(ports))


def twin_ports(bound: Iterable[BoundHost]) -> dict[str, list[int]]:
    """host -> the ports its twin must open (only hosts that need any)."""
    return {h.name: ports for h in bound if (ports := probed_ports(h.steps))}
