"""`restore lab ...`: the built-in lab of real hosts on this machine (DESIGN §7)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from restore.cli import console
from restore.cli.options import FORMAT_OPTION, STATE_DIR_OPTION, OutputFormat
from restore.cli.progress import steps, working
from restore.errors import InputError
from restore.models import Platform

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


@lab_app.command("up")
def up(
    linux: int = typer.Option(0, "--linux", min=0, help="Number of Linux hosts (linux01...)."),
    windows: int = typer.Option(0, "--windows", min=0, help="Number of Windows hosts (win01...)."),
    dc: int = typer.Option(
        0,
        "--dc",
        min=0,
        help="Number of Samba AD domain controllers (dc01...), each a domain of its own.",
    ),
    from_inventory: Path | None = typer.Option(
        None, "--from-inventory", help="Create a lab twin of every host of this inventory."
    ),
    graph: Path | None = typer.Option(
        None,
        "--graph",
        help=(
            "With --from-inventory: each twin also listens on the TCP ports its service's "
            "health probes name (tcp: N, or an http: URL's port), with a trivial responder."
        ),
    ),
    sites: int = typer.Option(
        0,
        "--sites",
        min=0,
        help=(
            "Split the --linux hosts round-robin over N sites (groups site1...), each with its "
            "own execution node (site1-node...) installed through `restore node install`."
        ),
    ),
    rebuild_rootfs: bool = typer.Option(
        False, "--rebuild-rootfs", help="Rebuild the golden image."
    ),
    winrm_lenient: bool = typer.Option(
        False,
        "--winrm-lenient",
        help=(
            "Windows hosts also accept Basic and unencrypted WinRM over HTTP (5985), which a "
            "stock Windows host refuses. Default: NTLM with message encryption over HTTP, "
            "NTLM or Basic over HTTPS."
        ),
    ),
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Create lab hosts; print the lab inventory's path as the last line."""
    twin_groups: dict[str, list[str]] = {}
    nodes: dict[str, str] = {}
    wanted: list[tuple[str, Platform]] = [
        (f"linux{i:02d}", Platform.LINUX) for i in range(1, linux + 1)
    ]
    for site in range(1, sites + 1):
        members = [name for name, _ in wanted[site - 1 :: sites]]
        twin_groups[f"site{site}"] = [f"site{site}-node", *members]
        nodes.update(dict.fromkeys(members, f"site{site}-node"))
    wanted += [(f"site{k}-node", Platform.LINUX) for k in range(1, sites + 1)]
    wanted += [(f"win{i:02d}", Platform.WINDOWS) for i in range(1, windows + 1)]
    wanted += [(f"dc{i:02d}", Platform.LINUX) for i in range(1, dc + 1)]
    roles = {f"dc{i:02d}": "domain_controller" for i in range(1, dc + 1)}
    if from_inventory is not None:
        from restore.inputs.inventory import load_inventory
        from restore.planning.placement import execution_nodes

        inventory = load_inventory(from_inventory)
        wanted += [(h.name, h.platform) for h in inventory.hosts]
        twin_groups.update({name: list(members) for name, members in inventory.groups})
        nodes.update(execution_nodes(inventory))
        roles.update(
            {h.name: "domain_controller" for h in inventory.hosts if _is_dc(h.var("restore_role"))}
        )
    ports: dict[str, list[int]] = {}
    if graph is not None:
        if from_inventory is None:
            raise InputError(
                "--graph needs --from-inventory", key="--graph", hint="add --from-inventory INV"
            )
        from restore.inputs.graph import load_graph
        from restore.lab.twin_ports import twin_ports
        from restore.planning.binding import bind

        bound = [h for hosts in bind(load_graph(graph), inventory).values() for h in hosts]
        ports = twin_ports(bound)
    if not wanted:
        raise InputError(
            "nothing to create", hint="use --linux N, --windows M, --dc K or --from-inventory INV"
        )
    golden_image(rebuild_rootfs)
    console.info(f"starting {len(wanted)} lab host(s) under {state_dir}")
    with steps("lab up", len(wanted)) as advance:
        path = _lab(state_dir).up(
            wanted,
            groups=twin_groups,
            execution_nodes=nodes,
            winrm_lenient=winrm_lenient,
            ports=ports,
            roles=roles,
            progress=advance,
        )
    for node in sorted(set(nodes.values())):
        console.info(f"installing execution node {node}")
        _install_node(path, node)
    typer.echo(str(path))


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
    for column in (
        "host",
        "platform",
        "management",
        "production",
        "running",
        "quarantined",
        "faults",
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
        "log-cleared, shadow-copies-deleted; both: ransomware (all of them).",
    ),
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Plant what a real attack leaves on a host."""
    _lab(state_dir).infect(host, scenario)


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app)
