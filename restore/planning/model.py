"""The plan's value types: what `build_plan` computes and every renderer reads.

Kept apart from the planner so that reading a cached plan (and rendering it) imports neither
networkx nor pydantic: a repeated `restore plan` on unchanged files starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from restore.inputs.step_kinds import kind_of
from restore.models import GraphSpec, HostSpec, StepSpec
from restore.planning.scheduling import Simulation


@dataclass(frozen=True)
class BoundHost:
    """One host as the run will treat it: its service, platform and resolved steps."""

    spec: HostSpec
    service: str
    steps: tuple[StepSpec, ...]
    execution_node: str | None = None  # runs its Ansible steps; None: the control node

    @property
    def name(self) -> str:
        return self.spec.name


def step_estimate(step: StepSpec) -> float:
    """The step's own `estimate:`, else its kind's (restore.inputs.step_kinds)."""
    return step.estimate_s if step.estimate_s is not None else kind_of(step.type).estimate_s


@dataclass(frozen=True)
class PlannedHost:
    name: str
    service: str
    platform: str
    steps: tuple[StepSpec, ...]
    duration_s: float
    bound: BoundHost


@dataclass(frozen=True)
class PlannedService:
    id: str
    name: str
    priority: int
    effective_priority: int
    inherited_from: str | None
    depends_on: tuple[str, ...]
    hosts: tuple[str, ...]
    wave: int
    duration_s: float
    max_parallel: int
    rto_s: float | None


@dataclass(frozen=True)
class RestorePlan:
    graph: GraphSpec
    services: tuple[PlannedService, ...]  # in restore order
    hosts: tuple[PlannedHost, ...]  # in restore order
    critical_path: tuple[str, ...]
    estimated_duration_s: float
    simulations: tuple[Simulation, ...]
    only: str | None = None

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.services)

    @property
    def hosts_order(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)

    def service(self, service_id: str) -> PlannedService:
        for svc in self.services:
            if svc.id == service_id:
                return svc
        raise KeyError(service_id)

    def host(self, name: str) -> PlannedHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def waves(self) -> list[list[str]]:
        result: dict[int, list[str]] = {}
        for svc in self.services:
            result.setdefault(svc.wave, []).append(svc.id)
        return [result[w] for w in sorted(result)]

    def to_json(self) -> dict[str, Any]:
        sims = [s.to_json() for s in self.simulations]
        return {
            "graph": str(self.graph.path),
            "name": self.graph.name,
            "only": self.only,
            "order": list(self.order),
            "hosts_order": list(self.hosts_order),
            "services": [
                {
                    "id": s.id,
                    "name": s.name,
                    "priority": s.priority,
                    "effective_priority": s.effective_priority,
                    "inherited_from": s.inherited_from,
                    "depends_on": list(s.depends_on),
                    "hosts": list(s.hosts),
                    "wave": s.wave,
                    "duration_s": s.duration_s,
                    "max_parallel": s.max_parallel,
                    "rto_s": s.rto_s,
                }
                for s in self.services
            ],
            "hosts": [
                {
                    "host": h.name,
                    "service": h.service,
                    "platform": h.platform,
                    "execution_node": h.bound.execution_node,
                    "duration_s": h.duration_s,
                    "steps": [
                        {"type": st.type.value, "label": st.label, "estimate_s": step_estimate(st)}
                        for st in h.steps
                    ],
                }
                for h in self.hosts
            ],
            "waves": self.waves(),
            "critical_path": list(self.critical_path),
            "estimated_duration_s": self.estimated_duration_s,
            "simulation": sims[0] if len(sims) == 1 else sims,
        }
