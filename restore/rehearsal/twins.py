"""Lab twins of the hosts a graph uses, started as a real attack leaves them: quarantined.

Every inventory host the graph binds gets a twin (same name, same platform, its inventory
groups, a DC role where the host is a domain controller, the ports its health probes name;
the DCs of one domain replicate with each other),
and so does every execution node those hosts run through, installed as a node.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from restore.ansible.nodes.install import install_node
from restore.inputs.inventory import load_inventory
from restore.lab.twin_ports import twin_ports
from restore.models import HostSpec, Inventory, Platform
from restore.planning.model import BoundHost

if TYPE_CHECKING:
    from restore.lab import Lab


def start_twins(
    state_dir: Path, bound: list[BoundHost], real: Inventory, say: Callable[[str], None]
) -> tuple[Lab, Path]:
    """Boot, install and quarantine the twins; return the lab and its inventory's path."""
    from restore.directory.role import ROLE, is_domain_controller
    from restore.lab import Lab

    lab = Lab(state_dir)
    twins = _twins(bound, real)
    nodes = {h.name: h.execution_node for h in bound if h.execution_node}
    controllers = [h.spec for h in bound if is_domain_controller(h.spec)]
    if controllers:
        from restore.lab.samba_dc import images_ready

        if not images_ready():  # built inside the first DC's boot, below
            say("lab: building the domain controllers' image (Samba AD; once per machine, ~2 min)")
    say(f"lab: starting {len(twins)} twin host(s)")
    used = {name for name, _ in twins}
    groups = {g: [m for m in members if m in used] for g, members in real.groups}
    roles = {h.name: ROLE for h in controllers}
    # each twin listens where its graph's health probes look (restore.lab.twin_ports)
    inventory = lab.up(
        twins,
        groups=groups,
        execution_nodes=nodes,
        ports=twin_ports(bound),
        roles=roles,
        replicas=replica_twins(controllers),
    )
    for node in sorted(set(nodes.values())):
        say(f"lab: installing execution node {node}")
        install_node(load_inventory(inventory, with_secrets=True).host(node))
    for name, _ in twins:
        lab.quarantine(name, True)
    return lab, inventory


def replica_twins(controllers: list[HostSpec]) -> dict[str, str]:
    """DC -> the DC whose domain its twin joins (pure). The DCs of one domain
    (`restore_ad_domain`, as the rotation groups them) are one lab domain: the first in the
    graph's order boots from the golden DC and the others join it and replicate with it, so
    that the rotation waits for them as it would on the night."""
    primaries: dict[object, str] = {}
    replicas: dict[str, str] = {}
    for host in controllers:
        domain = host.var("restore_ad_domain")
        if domain in primaries:
            replicas[host.name] = primaries[domain]
        else:
            primaries[domain] = host.name
    return replicas


def _twins(bound: list[BoundHost], real: Inventory) -> list[tuple[str, Platform]]:
    """The graph's hosts, then the execution nodes they run through (twins of their own)."""
    twins = [(h.name, h.spec.platform) for h in bound]
    names = {name for name, _ in twins}
    nodes = sorted({h.execution_node for h in bound if h.execution_node})
    twins += [(node, real.host(node).platform) for node in nodes if node not in names]
    return twins
