"""Where reimage providers and network controls come from: a registry the engine reads.

Why a registry: the engine must not know the lab (or any hypervisor or firewall) by name. A
party that can reimage or isolate a host registers a factory; the steps ask the registry for
the host at hand. The built-in lab's are registered by the commands that run plans on lab
twins (`restore run`, `rehearse`: restore.lab.providers.register), and the command-template
reimage provider is built in (restore.execution.reimage_providers). A site adds a provider
the same way: one factory, one `register_*` call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from restore.models import HostSpec


class NetworkControl(Protocol):
    """Cuts or restores a host's production network (its management path stays open)."""

    name: str

    def isolate(self, host: HostSpec, isolated: bool) -> None: ...


@dataclass(frozen=True)
class ReimageResult:
    ok: bool
    message: str
    host_key: str | None = None  # "type base64", from the provider


class ReimageProvider(Protocol):
    name: str

    def reimage(self, host: HostSpec, timeout_s: float) -> ReimageResult: ...


ReimageFactory = Callable[[HostSpec], ReimageProvider | None]
NetworkFactory = Callable[[HostSpec], NetworkControl | None]

_lock = threading.Lock()
_reimage_factories: list[ReimageFactory] = []
_network_factories: list[NetworkFactory] = []


def register_reimage_provider(factory: ReimageFactory) -> None:
    with _lock:
        if factory not in _reimage_factories:
            _reimage_factories.append(factory)


def register_network_control(factory: NetworkFactory) -> None:
    with _lock:
        if factory not in _network_factories:
            _network_factories.append(factory)


def registered_reimage_provider(host: HostSpec) -> ReimageProvider | None:
    """The first registered provider that claims the host, or None."""
    with _lock:
        factories = list(_reimage_factories)
    for factory in factories:
        provider = factory(host)
        if provider is not None:
            return provider
    return None


def network_control_for(host: HostSpec) -> NetworkControl | None:
    """The first registered network control that claims the host, or None (then the graph's
    network playbooks are used)."""
    with _lock:
        factories = list(_network_factories)
    for factory in factories:
        control = factory(host)
        if control is not None:
            return control
    return None
