"""One lab host's record, as `<state dir>/lab/lab.json` keeps it, and the lab's own ports."""

from __future__ import annotations

from dataclasses import dataclass, field

SSH_PORT = 22
APP_PORT = 8443


@dataclass
class LabHost:
    name: str
    platform: str
    number: int
    management: str
    production: str
    holder_pid: int | None = None
    quarantined: bool = False
    faults: list[str] = field(default_factory=list)
    # the golden image this host booted from (a later --rebuild-rootfs must not delete it)
    rootfs: str | None = None
    # extra TCP ports its responder serves: those its service's health probes name
    ports: list[int] = field(default_factory=list)
    # "domain_controller": a Samba AD DC runs next to sshd (restore/lab/samba_dc.py)
    role: str | None = None
    # a DC that joins this other lab DC's domain and replicates with it (samba_replica.py)
    replica_of: str | None = None
