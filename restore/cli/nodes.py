"""`restore node install|status`: prepare and inspect per-site execution nodes."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import typer
from rich.console import RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from restore.cli import console
from restore.cli.options import (
    ASK_VAULT_PASS_OPTION,
    FORMAT_OPTION,
    INVENTORIES_OPTION,
    VAULT_PASSWORD_FILE_OPTION,
    OutputFormat,
)

node_app = typer.Typer(
    name="node",
    help=(
        "Execution nodes: inventory hosts that run ansible-runner's worker for the hosts whose "
        "restore_execution_node names them (one per hospital site)."
    ),
    no_args_is_help=True,
)
CACHE_OPTION = typer.Option(
    None,
    "--wheelhouse-cache",
    help="Where downloaded wheelhouses are kept [default: /var/cache/restore].",
    envvar="RESTORE_WHEELHOUSE_CACHE",
)


class _WhenSized(ProgressColumn):
    """Shows `inner` only for tasks with a size (the transfer), not for the phase spinner."""

    def __init__(self, inner: ProgressColumn) -> None:
        super().__init__()
        self.inner = inner

    def render(self, task: Task) -> RenderableType:
        return self.inner.render(task) if task.total is not None else Text("")


class _Progress:
    """Install progress for people: a spinner with the current phase and a transfer bar on a
    terminal; one line per phase elsewhere (CI logs)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = console.err.is_terminal
        self.bar: Progress | None = None
        self.phase_task: TaskID | None = None
        self.transfer_task: TaskID | None = None

    def __enter__(self) -> _Progress:
        if self.tty and not self.quiet:
            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                _WhenSized(BarColumn()),
                _WhenSized(DownloadColumn()),
                TimeElapsedColumn(),
                console=console.err,
                transient=True,
            )
            self.bar.start()
            self.phase_task = self.bar.add_task("starting", total=None)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def phase(self, text: str) -> None:
        if self.bar is not None and self.phase_task is not None:
            self.bar.update(self.phase_task, description=text)
        elif not self.quiet:
            console.info(text)

    def detail(self, text: str) -> None:
        # pip's own lines while the wheelhouse downloads: the slow part of a first install
        if self.bar is not None and self.phase_task is not None:
            self.bar.update(self.phase_task, description=f"pip download: {text[:100]}")

    def transfer(self, done: int, total: int) -> None:
        if self.bar is None:
            return
        if self.transfer_task is None:
            self.transfer_task = self.bar.add_task("sending wheels", total=total)
        self.bar.update(self.transfer_task, completed=done)


@node_app.command("install")
def install(
    node: str = typer.Argument(..., help="The inventory host to make an execution node."),
    inventory: list[Path] = INVENTORIES_OPTION,
    vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
    ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
    force: bool = typer.Option(
        False, "--force", help="Rebuild the node's venv even if it is already at the versions."
    ),
    wheelhouse_cache: Path | None = CACHE_OPTION,
    output: OutputFormat = FORMAT_OPTION,
) -> None:
    """Install this venv's ansible-core and ansible-runner on NODE, over SSH, from a wheelhouse
    downloaded here (the node needs no internet). Idempotent."""
    from restore.ansible.nodes.install import install_node
    from restore.ansible.nodes.status import select_node
    from restore.inputs.inventory import load_inventory

    spec = select_node(load_inventory(inventory, with_secrets=True), node)
    with _Progress(quiet=output is OutputFormat.JSON) as progress:
        result = install_node(spec, force=force, cache=wheelhouse_cache, progress=progress)
    if output is OutputFormat.JSON:
        console.emit_json(result.as_dict())
        return
    versions = f"ansible-core {result.ansible_core}, ansible-runner {result.ansible_runner}"
    if result.action == "unchanged":
        console.info(
            f"{result.node}: already at {versions} in {result.venv}; nothing to do "
            "(--force reinstalls)"
        )
        return
    source = "downloaded" if result.wheelhouse_built else "cached"
    console.info(
        f"{result.node}: {result.action} {versions} (Python {result.python}) in {result.venv} "
        f"in {result.duration_s:.1f} s; {result.bytes_sent / 1e6:.1f} MB sent from the "
        f"{source} wheelhouse {result.wheelhouse}"
    )


@node_app.command("status")
def status(
    node: str | None = typer.Argument(
        None, help="One node; default: every host named by some host's restore_execution_node."
    ),
    inventory: list[Path] = INVENTORIES_OPTION,
    vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
    ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
    output: OutputFormat = FORMAT_OPTION,
) -> None:
    """Health and capacity of execution nodes (ansible-runner worker --worker-info). Exit 1
    when a node is unreachable, not installed, failing or at other versions than here."""
    from restore.ansible.nodes.status import inventory_nodes, nodes_status, select_node
    from restore.ansible.nodes.wheelhouse import control_pins
    from restore.inputs.inventory import describe_sources, load_inventory

    hosts = load_inventory(inventory, with_secrets=True)
    specs = [select_node(hosts, node)] if node is not None else inventory_nodes(hosts)
    if not specs:
        console.warn(
            f"no host of {describe_sources(inventory)} names an execution node "
            "(restore_execution_node)"
        )
    pins = control_pins()
    rows = nodes_status(specs, pins)
    if output is OutputFormat.JSON:
        console.emit_json(
            {
                "control": {
                    "ansible_core": pins.ansible_core,
                    "ansible_runner": pins.ansible_runner,
                },
                "nodes": [row.as_dict() for row in rows],
            }
        )
    else:
        table = Table(
            title=f"Execution nodes (control: ansible-core {pins.ansible_core}, "
            f"ansible-runner {pins.ansible_runner})"
        )
        for column in ("node", "address", "state", "runner", "ansible-core", "cpus", "memory"):
            table.add_column(column)
        table.add_column("problem", overflow="fold")
        for row in rows:
            table.add_row(
                row.node,
                row.address,
                console.styled(row.state, "" if row.healthy else "red"),
                row.runner_version or "",
                row.ansible_core or "",
                str(row.cpu_count) if row.cpu_count is not None else "",
                f"{row.mem_in_bytes / 2**30:.1f} GiB" if row.mem_in_bytes is not None else "",
                Text(row.problem or ""),
            )
        console.out.print(table)
    if any(not row.healthy for row in rows):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(node_app)
