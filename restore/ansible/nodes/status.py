"""`restore node status`: is each execution node ready to run its site's jobs, and how big.

Health comes from the node itself: `ansible-runner worker --worker-info` (what AWX/Receptor
ask a node for: cpu_count, mem_in_bytes, runner_version, uuid, errors), plus the node venv's
ansible-core. A node is healthy when it answers, reports no errors, and runs the same
ansible-core and ansible-runner as the control side (transmit here, worker there: one
protocol, one version). An unreachable node is a row with its reason, never an exception.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from restore.ansible.nodes import NODE_RUNNER
from restore.ansible.nodes.install import VERSIONS_COMMAND
from restore.ansible.nodes.wheelhouse import Pins
from restore.errors import InputError, OperationalError
from restore.inputs.graph import did_you_mean
from restore.models import HostSpec, Inventory, Platform
from restore.planning.placement import execution_nodes
from restore.transports.ssh import SshTransport

STATUS_TIMEOUT_S = 60.0
MAX_PARALLEL = 16
_SEPARATOR = "----restore-node-versions----"
STATUS_COMMAND = f"{NODE_RUNNER} worker --worker-info; echo {_SEPARATOR}; {VERSIONS_COMMAND}"


@dataclass(frozen=True)
class NodeStatus:
    node: str
    address: str
    healthy: bool
    state: str  # ready, outdated, not installed, failing, unreachable
    problem: str | None = None
    runner_version: str | None = None
    ansible_core: str | None = None
    python: str | None = None
    cpu_count: int | None = None
    mem_in_bytes: int | None = None
    uuid: str | None = None
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def select_node(inventory: Inventory, name: str) -> HostSpec:
    """The inventory host `name`, which must be a Linux host; InputError (exit 2) otherwise,
    naming the inventory and the nearest host name."""
    try:
        host = inventory.host(name)
    except KeyError:
        raise InputError(
            f"node '{name}' is not a host of the inventory",
            file=inventory.source,
            hint=did_you_mean(name, inventory.host_names) or "add it to the inventory",
        ) from None
    if host.platform is not Platform.LINUX:
        raise InputError(
            f"node '{name}' is not a Linux host: an execution node runs ansible-runner's worker "
            "over SSH",
            file=inventory.source,
        )
    return host


def inventory_nodes(inventory: Inventory) -> list[HostSpec]:
    """Every host that some host names in its restore_execution_node var, inventory order.
    An invalid reference (unknown, cyclic...) is the same InputError as for `restore plan`."""
    named = set(execution_nodes(inventory).values())
    return [host for host in inventory.hosts if host.name in named]


def parse_worker_info(text: str) -> dict[str, Any]:
    """The YAML mapping `ansible-runner worker --worker-info` prints; OperationalError if not."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OperationalError(f"unreadable --worker-info output: {exc}") from None
    if not isinstance(data, dict) or "runner_version" not in data:
        raise OperationalError(f"unexpected --worker-info output: {text.strip()[:200]!r}")
    return data


def assess(
    spec: HostSpec, info: dict[str, Any], versions: dict[str, Any], pins: Pins
) -> NodeStatus:
    """Pure: a node's answers -> its status row."""
    errors = [str(e) for e in info.get("errors") or []]
    runner = _str(info.get("runner_version"))
    core = _str(versions.get("ansible_core"))
    state, problem = "ready", None
    if errors:
        state, problem = "failing", "; ".join(errors)
    elif runner != pins.ansible_runner or core != pins.ansible_core:
        state = "outdated"
        problem = (
            f"node runs ansible-core {core} / ansible-runner {runner}, the control side "
            f"{pins.ansible_core} / {pins.ansible_runner}: run `restore node install {spec.name}`"
        )
    return NodeStatus(
        node=spec.name,
        address=spec.address,
        healthy=state == "ready",
        state=state,
        problem=problem,
        runner_version=runner,
        ansible_core=core,
        python=_str(versions.get("python")),
        cpu_count=_int(info.get("cpu_count")),
        mem_in_bytes=_int(info.get("mem_in_bytes")),
        uuid=_str(info.get("uuid")),
        errors=errors,
    )


def node_status(spec: HostSpec, pins: Pins) -> NodeStatus:
    """One node's status. Never raises: whatever goes wrong is the row's problem."""
    transport = SshTransport(spec)
    try:
        transport.connect()
        done = transport.run(STATUS_COMMAND, STATUS_TIMEOUT_S)
        if done.timed_out:
            return _down(spec, "unreachable", f"no answer within {STATUS_TIMEOUT_S:.0f} s")
        worker, _, versions_text = done.stdout.partition(_SEPARATOR)
        if not versions_text or not worker.strip():
            if "No such file" in done.stderr or "not found" in done.stderr:
                return _down(spec, "not installed", f"run `restore node install {spec.name}`")
            return _down(spec, "failing", (done.stderr or done.stdout).strip()[-300:])
        try:
            info = parse_worker_info(worker)
        except OperationalError as exc:
            return _down(spec, "failing", str(exc))
        try:
            versions = yaml.safe_load(versions_text.strip().splitlines()[-1])
        except (yaml.YAMLError, IndexError):
            versions = None
        return assess(spec, info, versions if isinstance(versions, dict) else {}, pins)
    except OperationalError as exc:  # TransportError included
        return _down(spec, "unreachable", str(exc))
    finally:
        transport.close()


def nodes_status(specs: list[HostSpec], pins: Pins) -> list[NodeStatus]:
    """Every node's status, asked in parallel, in the order given."""
    if not specs:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(specs))) as pool:
        return list(pool.map(lambda spec: node_status(spec, pins), specs))


def _down(spec: HostSpec, state: str, problem: str) -> NodeStatus:
    return NodeStatus(
        node=spec.name, address=spec.address, healthy=False, state=state, problem=problem
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
