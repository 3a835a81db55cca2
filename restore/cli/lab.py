"""`restore lab ...`: the built-in lab of real hosts on this machine (DESIGN §7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.table import Table

from restore.cli import console
from restore.cli.options import FORMAT_OPTION, STATE_DIR_OPTION, OutputFormat
from restore.cli.progress import steps, working
from restore.errors import InputError
from restore.models import Inventory, Platform

lab_app = typer.Typer(
    name="lab",
    help=(
        "Real lab hosts on this machine, for rehearsals and CI: each Linux host is a real sshd "
        "in its own namespaces on an overlay root, on loopback (management 127.0.11.N, "
        "production 127.0.10.N; beyond 250 hosts 127.11.X.Y / 127.10.X.Y; see docs/lab.md). "
        "Needs root."
    ),
    no_args_is_help=True,
)
HOST_ARGUMENT = typer.Argument(..., help="Lab host name (see `restore lab status`).")


def _install_node(inventory: Path, node: str) -> None:
    from restore.ansible.nodes.install import install_node
    from restore.inputs.inventory import load_inventory

    install_node(load_inventory(inventory, with_secrets=True).host(node))


def _lab(state_dir: Path):  # type: ignore[no-untyped-def]
    from restore.lab import Lab

    return Lab(state_dir)


def golden_image(rebuild: bool) -> None:
    """Build the golden image first, with a spinner, when it is missing (about a minute)."""
    from restore.lab.lab import rootfs_in_use
    from restore.lab.prereq import require_lab_tools
    from restore.lab.rootfs import ensure_rootfs, is_built

    if rebuild or not is_built():
        require_lab_tools()
        with working("building the lab's golden image (about a minute, once)"):
            ensure_rootfs(rebuild=rebuild, in_use=rootfs_in_use)


LINUX_OPTION = typer.Option(0, "--linux", min=0, help="Number of Linux hosts (linux01...).")
WINDOWS_OPTION = typer.Option(0, "--windows", min=0, help="Number of Windows hosts (win01...).")
DC_OPTION = typer.Option(
    0,
    "--dc",
    min=0,
    help=(
        "Number of Samba AD domain controllers (dc01...), each a domain of its own "
        "(--dc-replicas adds DCs of dc01's domain)."
    ),
)
DC_REPLICAS_OPTION = typer.Option(
    0,
    "--dc-replicas",
    min=0,
    help=(
        "Number of replica DCs of dc01's domain, numbered after the --dc ones (--dc 1 "
        "--dc-replicas 2 gives dc01, then dc02 and dc03 that join dc01's domain with "
        "`samba-tool domain join`, a few seconds each, and pull its changes every 2 s). What "
        "`directory: rotate_krbtgt` on dc01 waits for between its two resets; every DC's "
        "directory is checked over its own LDAPS (each replica has its own CA file in the "
        "lab inventory). Samba does not replicate SYSVOL. Needs --dc 1 or more."
    ),
)
FROM_INVENTORY_OPTION = typer.Option(
    None, "--from-inventory", help="Create a lab twin of every host of this inventory."
)
GRAPH_OPTION = typer.Option(
    None,
    "--graph",
    help=(
        "With --from-inventory: each twin also listens on the TCP ports its service's "
        "health probes name (tcp: N, or an http: URL's port), with a trivial responder."
    ),
)
SITES_OPTION = typer.Option(
    0,
    "--sites",
    min=0,
    help=(
        "Split the --linux hosts round-robin over N sites (groups site1...), each with its "
        "own execution node (site1-node...) installed through `restore node install`."
    ),
)
REBUILD_ROOTFS_OPTION = typer.Option(False, "--rebuild-rootfs", help="Rebuild the golden image.")
WINRM_LENIENT_OPTION = typer.Option(
    False,
    "--winrm-lenient",
    help=(
        "Windows hosts also accept Basic and unencrypted WinRM over HTTP (5985), which a "
        "stock Windows host refuses. Default: NTLM with message encryption over HTTP, "
        "NTLM or Basic over HTTPS."
    ),
)


@dataclass
class _LabRequest:
    """The hosts `lab up` creates, with their groups, execution nodes, roles and ports."""

    wanted: list[tuple[str, Platform]] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    ports: dict[str, list[int]] = field(default_factory=dict)
    replicas: dict[str, str] = field(default_factory=dict)  # replica DC -> its primary


@lab_app.command("up")
def up(
    linux: int = LINUX_OPTION,
    windows: int = WINDOWS_OPTION,
    dc: int = DC_OPTION,
    dc_replicas: int = DC_REPLICAS_OPTION,
    from_inventory: Path | None = FROM_INVENTORY_OPTION,
    graph: Path | None = GRAPH_OPTION,
    sites: int = SITES_OPTION,
    rebuild_rootfs: bool = REBUILD_ROOTFS_OPTION,
    winrm_lenient: bool = WINRM_LENIENT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Create lab hosts; print the lab inventory's path as the last line."""
    request = _counted_hosts(linux, windows, dc, sites)
    _add_replicas(request, dc, dc_replicas)
    if from_inventory is not None:
        inventory = _add_inventory_twins(request, from_inventory)
    if graph is not None:
        if from_inventory is None:
            raise InputError(
                "--graph needs --from-inventory", key="--graph", hint="add --from-inventory INV"
            )
        request.ports = _probe_ports(graph, inventory)
    if not request.wanted:
        raise InputError(
            "nothing to create", hint="use --linux N, --windows M, --dc K or --from-inventory INV"
        )
    golden_image(rebuild_rootfs)
    console.info(f"starting {len(request.wanted)} lab host(s) under {state_dir}")
    with steps("lab up", len(request.wanted)) as advance:
        path = _lab(state_dir).up(
            request.wanted,
            groups=request.groups,
            execution_nodes=request.nodes,
            winrm_lenient=winrm_lenient,
            ports=request.ports,
            roles=request.roles,
            progress=advance,
            replicas=request.replicas,
        )
    for node in sorted(set(request.nodes.values())):
        console.info(f"installing execution node {node}")
        _install_node(path, node)
    typer.echo(str(path))


def _counted_hosts(linux: int, windows: int, dc: int, sites: int) -> _LabRequest:
    """--linux, --sites, --windows and --dc: numbered hosts, the Linux ones split over sites."""
    request = _LabRequest(wanted=[(f"linux{i:02d}", Platform.LINUX) for i in range(1, linux + 1)])
    for site in range(1, sites + 1):
        members = [name for name, _ in request.wanted[site - 1 :: sites]]
        request.groups[f"site{site}"] = [f"site{site}-node", *members]
        request.nodes.update(dict.fromkeys(members, f"site{site}-node"))
    request.wanted += [(f"site{k}-node", Platform.LINUX) for k in range(1, sites + 1)]
    request.wanted += [(f"win{i:02d}", Platform.WINDOWS) for i in range(1, windows + 1)]
    request.wanted += [(f"dc{i:02d}", Platform.LINUX) for i in range(1, dc + 1)]
    request.roles = {f"dc{i:02d}": "domain_controller" for i in range(1, dc + 1)}
    return request


def _add_replicas(request: _LabRequest, dc: int, replicas: int) -> None:
    """--dc-replicas: DCs numbered after the --dc ones, each joining dc01's domain."""
    if replicas and not dc:
        raise InputError(
            "--dc-replicas needs a domain controller to join",
            key="--dc-replicas",
            hint="add --dc 1 (the replicas join dc01's domain)",
        )
    names = [f"dc{i:02d}" for i in range(dc + 1, dc + replicas + 1)]
    request.wanted += [(name, Platform.LINUX) for name in names]
    request.roles.update(dict.fromkeys(names, "domain_controller"))
    request.replicas.update(dict.fromkeys(names, "dc01"))


def _add_inventory_twins(request: _LabRequest, from_inventory: Path) -> Inventory:
    """--from-inventory: a twin of every host, with the inventory's groups, nodes and roles
    (and DC replicas)."""
    from restore.inputs.inventory import load_inventory
    from restore.planning.placement import execution_nodes
    from restore.rehearsal.twins import replica_twins

    inventory = load_inventory(from_inventory)
    request.wanted += [(h.name, h.platform) for h in inventory.hosts]
    request.groups.update({name: list(members) for name, members in inventory.groups})
    request.nodes.update(execution_nodes(inventory))
    controllers = [h for h in inventory.hosts if _is_dc(h.var("restore_role"))]
    request.roles.update(dict.fromkeys((h.name for h in controllers), "domain_controller"))
    # the DCs of one restore_ad_domain: one lab domain, as `rehearse --lab` makes them
    request.replicas.update(replica_twins(controllers))
    return inventory


def _probe_ports(graph: Path, inventory: Inventory) -> dict[str, list[int]]:
    """--graph: the TCP ports each twin's health probes name."""
    from restore.inputs.graph import load_graph
    from restore.lab.twin_ports import twin_ports
    from restore.planning.binding import bind

    bound = [h for hosts in bind(load_graph(graph), inventory).values() for h in hosts]
    return twin_ports(bound)


def _is_dc(role: object) -> bool:
    return role == "domain_controller"


@lab_app.command("down")
def down(
    state_dir: Path = STATE_DIR_OPTION,
    all_labs: bool = typer.Option(
        False, "--all", help="Every lab registered on this machine (CI cleanup after a crash)."
    ),
) -> None:
    """Stop every lab host, unmount, remove the lab's nftables table. Safe after a crash."""
    from restore.lab.alloc import owners

    targets = owners() if all_labs else [state_dir]
    removed = 0
    for target in targets:
        lab = _lab(target)
        with steps("lab down", len(lab.hosts)) as advance:
            removed += len(lab.down(progress=advance))
    console.info(f"removed {removed} lab host(s)")


@lab_app.command("status")
def status(state_dir: Path = STATE_DIR_OPTION, output: OutputFormat = FORMAT_OPTION) -> None:
    """List lab hosts: addresses, running, quarantined, faults."""
    rows = _lab(state_dir).status()
    if output is OutputFormat.JSON:
        console.emit_json({"hosts": rows})
        return
    table = Table(title=f"Lab under {state_dir}")
    replicas = any(row.get("replica_of") for row in rows)  # the column only when there are
    for column in (
        "host",
        "platform",
        "management",
        "production",
        "running",
        "quarantined",
        "faults",
        *(("replica of",) if replicas else ()),
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["host"],
            row["platform"],
            row["management"],
            row["production"],
            "yes" if row["running"] else console.styled("no", "red"),
            "yes" if row["quarantined"] else "",
            ", ".join(row["faults"]),
            *((row.get("replica_of") or "",) if replicas else ()),
        )
    console.out.print(table)


@lab_app.command("quarantine")
def quarantine(host: str = HOST_ARGUMENT, state_dir: Path = STATE_DIR_OPTION) -> None:
    """Cut the host's production address (management stays reachable)."""
    _lab(state_dir).quarantine(host, True)


@lab_app.command("reconnect")
def reconnect(host: str = HOST_ARGUMENT, state_dir: Path = STATE_DIR_OPTION) -> None:
    """Reopen the host's production address."""
    _lab(state_dir).quarantine(host, False)


@lab_app.command("fault")
def fault(
    host: str = HOST_ARGUMENT,
    unreachable: bool = typer.Option(False, "--unreachable", help="Drop both addresses."),
    hang: bool = typer.Option(False, "--hang", help="Accept connections, never answer."),
    deny_auth: bool = typer.Option(False, "--deny-auth", help="Refuse the lab's credentials."),
    clear: bool = typer.Option(False, "--clear", help="Remove every fault."),
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Inject a fault for tests, or clear them."""
    chosen = [
        name
        for name, on in (
            ("unreachable", unreachable),
            ("hang", hang),
            ("deny-auth", deny_auth),
            ("clear", clear),
        )
        if on
    ]
    if len(chosen) != 1:
        raise InputError("give exactly one of --unreachable, --hang, --deny-auth, --clear")
    _lab(state_dir).fault(host, None if chosen[0] == "clear" else chosen[0])


@lab_app.command("reset")
def reset(host: str = HOST_ARGUMENT, state_dir: Path = STATE_DIR_OPTION) -> None:
    """Reimage from the golden image; the new host key goes to the lab's known_hosts."""
    key = _lab(state_dir).reset(host)
    console.info(f"{host} reimaged; new host key {key.split()[0]} {key.split()[-1][:16]}...")


@lab_app.command("infect")
def infect(
    host: str = HOST_ARGUMENT,
    scenario: str = typer.Option(
        "ransomware",
        "--scenario",
        help="Linux: ransom-notes, cron-persistence, backdoor-account, modified-binary, "
        "ld-preload; Windows: scheduled-task, local-admin, defender-disabled, ransom-notes, "
        "log-cleared, shadow-copies-deleted; both: ransomware (all of them); domain "
        "controllers: privileged-account, new-user, spn-user, gpo-changed, gpo-backdated, "
        "krbtgt-not-rotated (docs/directory.md).",
    ),
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Plant what a real attack leaves on a host."""
    _lab(state_dir).infect(host, scenario)


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app)
