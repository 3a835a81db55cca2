"""Bind a graph to an inventory: expand host references, give each host its steps.

Pure: takes the already-loaded GraphSpec and Inventory and returns values or InputErrors.
"""

from __future__ import annotations

from restore.errors import InputError, InputErrors
from restore.inputs.graph import did_you_mean
from restore.models import GraphSpec, Inventory, Platform, ServiceSpec, StepSpec, StepType
from restore.planning.model import BoundHost
from restore.planning.placement import execution_nodes

# Without explicit steps a host is examined and rejoins the network only if clean: nothing
# destructive (reimage, rebuild) happens unless the graph asks for it.
DEFAULT_STEPS: dict[Platform, tuple[StepSpec, ...]] = {
    Platform.LINUX: (
        StepSpec(StepType.EVIDENCE),
        StepSpec(StepType.CHECK),
        StepSpec(StepType.RECONNECT),
    ),
    Platform.WINDOWS: (
        StepSpec(StepType.EVIDENCE),
        StepSpec(StepType.CHECK),
        StepSpec(StepType.RECONNECT),
    ),
}


def expand_hosts(graph: GraphSpec, inventory: Inventory) -> dict[str, tuple[str, ...]]:
    """service id -> host names in order; a "@group" expands in inventory order."""
    known_hosts = frozenset(inventory.host_names)  # a set: 10,000 hosts are looked up often
    errors: list[InputError] = []
    owner: dict[str, str] = {}
    result: dict[str, tuple[str, ...]] = {}
    for svc in graph.services:
        names = _referenced_hosts(graph, svc, inventory, known_hosts, errors)
        for name in dict.fromkeys(names):
            if name in owner and owner[name] != svc.id:
                errors.append(
                    InputError(
                        f"host '{name}' is in two services: '{owner[name]}' and '{svc.id}'",
                        file=str(graph.path),
                        service=svc.id,
                        key="hosts",
                        line=svc.line,
                        hint="a host is restored once, by one service; move it to one of them",
                    )
                )
            owner.setdefault(name, svc.id)
        result[svc.id] = tuple(dict.fromkeys(names))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return result


def _referenced_hosts(
    graph: GraphSpec,
    svc: ServiceSpec,
    inventory: Inventory,
    known_hosts: frozenset[str],
    errors: list[InputError],
) -> list[str]:
    """The hosts one service's references name, in order (repeats kept); a bad reference is
    added to `errors`, so that every one of them is reported at once."""
    names: list[str] = []
    for ref in svc.host_refs:
        if ref.startswith("@"):
            try:
                members = inventory.group(ref[1:])
            except KeyError:
                group_names = [name for name, _ in inventory.groups]
                errors.append(
                    _ref_error(
                        graph,
                        svc,
                        f"unknown inventory group '{ref}'",
                        ref[1:],
                        group_names,
                        inventory.source,
                    )
                )
                continue
            if not members:
                errors.append(
                    _ref_error(
                        graph,
                        svc,
                        f"inventory group '{ref}' has no hosts",
                        None,
                        (),
                        inventory.source,
                    )
                )
            names.extend(members)
        elif ref in known_hosts:
            names.append(ref)
        else:
            errors.append(
                _ref_error(
                    graph,
                    svc,
                    f"unknown host '{ref}'",
                    ref,
                    inventory.host_names,
                    inventory.source,
                )
            )
    return names


def _ref_error(
    graph: GraphSpec,
    svc: ServiceSpec,
    message: str,
    word: str | None,
    choices: tuple[str, ...] | list[str],
    inventory_source: str,
) -> InputError:
    hint = did_you_mean(word, choices) if word else None
    return InputError(
        f"{message} (not in inventory {inventory_source})",
        file=str(graph.path),
        service=svc.id,
        key="hosts",
        line=svc.line,
        hint=hint,
    )


def steps_for(svc: ServiceSpec, platform: Platform) -> tuple[StepSpec, ...]:
    """The service's steps that apply to a host of this platform (or the platform defaults)."""
    if svc.steps is None:
        return DEFAULT_STEPS[platform]
    return tuple(s for s in svc.steps if s.platform is None or s.platform is platform)


def bind(graph: GraphSpec, inventory: Inventory) -> dict[str, tuple[BoundHost, ...]]:
    """service id -> its bound hosts in order."""
    expanded = expand_hosts(graph, inventory)
    nodes = execution_nodes(inventory)
    by_name = {h.name: h for h in inventory.hosts}
    return {
        svc.id: tuple(
            BoundHost(
                spec=by_name[n],
                service=svc.id,
                steps=steps_for(svc, by_name[n].platform),
                execution_node=nodes.get(n),
            )
            for n in expanded[svc.id]
        )
        for svc in graph.services
    }
