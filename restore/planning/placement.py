"""Which execution node runs the Ansible steps of each host: pure, from the inventory.

A host's `restore_execution_node` host var (usually set once per site group) names another
inventory host. Rules, each refused with exit 2 before anything runs:
  - the node must be a host of the same inventory (typos get the nearest name);
  - the node must be a Linux host: it runs ansible-runner's worker;
  - a node may not itself be behind a node: that is a multi-hop mesh, Receptor's job, and a
    chain that comes back to where it started is a cycle.
A node whose site group names the node itself runs its own steps from the control node: a
node cannot be trusted to rebuild itself.
"""

from __future__ import annotations

from restore.errors import InputError, InputErrors
from restore.inputs.graph import did_you_mean
from restore.models import Inventory, Platform

NODE_VAR = "restore_execution_node"


def execution_nodes(inventory: Inventory) -> dict[str, str]:
    """host name -> the node that runs its Ansible steps; hosts run from here are absent."""
    names = [h.name for h in inventory.hosts]
    wanted: dict[str, str] = {}
    for host in inventory.hosts:
        node = host.var(NODE_VAR)
        if node not in (None, "") and str(node) != host.name:
            wanted[host.name] = str(node)
    errors: list[InputError] = []
    for host_name, node in wanted.items():
        if node not in names:
            errors.append(
                InputError(
                    f"host {host_name}: execution node '{node}' is not a host of the inventory",
                    file=inventory.source,
                    key=NODE_VAR,
                    hint=did_you_mean(node, names) or "add the node to the inventory",
                )
            )
            continue
        if inventory.host(node).platform is not Platform.LINUX:
            errors.append(
                InputError(
                    f"host {host_name}: execution node '{node}' is not a Linux host "
                    "(it runs ansible-runner's worker)",
                    file=inventory.source,
                    key=NODE_VAR,
                )
            )
        elif node in wanted:
            cycle = _cycle_through(host_name, wanted)
            problem = (
                f"execution nodes form a cycle ({' -> '.join(cycle)})"
                if cycle
                else f"its node '{node}' is itself run through node '{wanted[node]}'"
            )
            errors.append(
                InputError(
                    f"host {host_name}: {problem}; a node must be reached directly from the "
                    "control node",
                    file=inventory.source,
                    key=NODE_VAR,
                    hint=f"unset {NODE_VAR} on {node}, or move to Receptor for a multi-hop mesh",
                )
            )
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return wanted


def _cycle_through(start: str, wanted: dict[str, str]) -> list[str]:
    """The cycle that leads back to `start`, as a path start -> ... -> start; [] if none."""
    path = [start]
    while path[-1] in wanted:
        path.append(wanted[path[-1]])
        if path[-1] == start:
            return path
        if path[-1] in path[:-1]:
            return []  # a cycle further on, not through start
    return []
