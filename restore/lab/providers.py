"""The lab's reimage provider and network control, registered with the engine's registry.

The engine finds them through restore.execution.providers and never imports the lab: a lab
inventory host (one with `restore_lab`, its lab's state dir) is reset from its golden image
and isolated with the lab's nftables table; any other host is left to the other providers.
"""

from __future__ import annotations

import threading
from pathlib import Path

from restore.execution.providers import (
    ReimageResult,
    register_network_control,
    register_reimage_provider,
)
from restore.models import HostSpec, Platform

_LAB_LOCK = threading.Lock()  # the lab keeps its state in one JSON file


class LabReimage:
    name = "lab"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def reimage(self, host: HostSpec, timeout_s: float) -> ReimageResult:
        from restore.lab.lab import Lab

        # No process-wide lock here: a reset writes the lab's state under the lab's own file
        # lock (Lab._updating), and a DC replica's reset (a domain join, ~10 s) must not hold
        # up the other hosts' reimages of the run.
        lab = Lab(self.state_dir)
        key = lab.reset(host.name)
        primary = lab.host(host.name).replica_of
        said = (
            f"lab DC promoted again: joined {primary}'s domain, SYSVOL copied from it"
            if primary
            else "lab host reset from its golden image"
        )
        if host.platform is Platform.WINDOWS:
            return ReimageResult(True, said)
        return ReimageResult(True, said, host_key=key)


class LabNetwork:
    name = "lab"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def isolate(self, host: HostSpec, isolated: bool) -> None:
        from restore.lab.lab import Lab

        with _LAB_LOCK:
            Lab(self.state_dir).quarantine(host.name, on=isolated)


def _lab_dir(host: HostSpec) -> Path | None:
    lab = host.var("restore_lab")
    return Path(str(lab)) if lab else None


def lab_reimage(host: HostSpec) -> LabReimage | None:
    lab = _lab_dir(host)
    if lab is None or host.var("restore_reimage_provider") not in (None, "lab"):
        return None
    return LabReimage(lab)


def lab_network(host: HostSpec) -> LabNetwork | None:
    lab = _lab_dir(host)
    return LabNetwork(lab) if lab is not None else None


def register() -> None:
    """Idempotent: the lab's providers claim lab hosts from now on."""
    register_reimage_provider(lab_reimage)
    register_network_control(lab_network)
