"""The graph's cross-references, checked on the typed services: duplicate ids, unknown or
self dependencies, and cycles (printed as a cycle); and the dependency graph itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from restore.inputs.graph_problems import Collector
from restore.inputs.typos import did_you_mean
from restore.models import ServiceSpec


def written_ids(data: dict[str, Any]) -> set[str]:
    """Every service id written in the file, even on a service refused for another reason:
    a dependency on it is not 'unknown'."""
    raw = data.get("services")
    entries = raw if isinstance(raw, list) else []
    return {e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}


def check_references(
    services: list[ServiceSpec], indices: list[int], written: set[str], errors: Collector
) -> None:
    seen = _first_positions(services, indices, errors)
    _check_dependencies(services, indices, seen, written, errors)
    graph = to_digraph(services)
    graph.remove_edges_from(nx.selfloop_edges(graph))  # reported above
    if nx.is_directed_acyclic_graph(graph):  # fast path; find_cycle only to explain a cycle
        return
    cycle = nx.find_cycle(graph)
    members = [edge[0] for edge in cycle] + [cycle[0][0]]
    errors.add(
        "dependency cycle: " + " -> ".join(members),
        ("services", seen[members[0]], "depends_on"),
        key="depends_on",
        service=members[0],
        hint="a service cannot (indirectly) need itself; remove one depends_on entry",
    )


def _first_positions(
    services: list[ServiceSpec], indices: list[int], errors: Collector
) -> dict[str, int]:
    """Each service id's first position in the file; a second one is a duplicate."""
    seen: dict[str, int] = {}
    for index, svc in zip(indices, services, strict=True):
        if svc.id in seen:
            errors.add(
                f"duplicate service id '{svc.id}' (first defined as service #{seen[svc.id] + 1})",
                ("services", index, "id"),
                key="id",
                service=svc.id,
            )
        else:
            seen[svc.id] = index
    return seen


def _check_dependencies(
    services: list[ServiceSpec],
    indices: list[int],
    seen: dict[str, int],
    written: set[str],
    errors: Collector,
) -> None:
    for index, svc in zip(indices, services, strict=True):
        for dep_index, dep in enumerate(svc.depends_on):
            if dep == svc.id:
                errors.add(
                    "a service cannot depend on itself",
                    ("services", index, "depends_on", dep_index),
                    key="depends_on",
                    service=svc.id,
                )
            elif dep not in seen and dep not in written:
                errors.add(
                    f"unknown dependency '{dep}'",
                    ("services", index, "depends_on", dep_index),
                    key="depends_on",
                    service=svc.id,
                    hint=did_you_mean(dep, written) or "depends_on lists service ids",
                )


def to_digraph(services: Iterable[ServiceSpec]) -> nx.DiGraph:
    """Edges run from a dependency to its dependent (DESIGN §3)."""
    graph = nx.DiGraph()
    for svc in services:
        graph.add_node(svc.id)
    for svc in services:
        for dep in svc.depends_on:
            graph.add_edge(dep, svc.id)
    return graph
