"""`restore backups scan`: find the last clean restore point in each host's restic backups.

Exit codes: 0 every host has a clean snapshot; 3 a host has none (this wins: it blocks that
host's data restore); otherwise 1 when a repository could not be read; 2 bad input.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from restore.cli import console
from restore.cli.options import FORMAT_OPTION, INVENTORIES_OPTION, STATE_DIR_OPTION, OutputFormat
from restore.errors import EXIT_NOT_CLEAN, EXIT_OPERATIONAL, InputError

if TYPE_CHECKING:  # the scan's modules load only when `scan` runs
    from restore.backups.scan import HostScan

backups_app = typer.Typer(
    name="backups",
    help="Scan restic backups for the attack before restoring them.",
    no_args_is_help=True,
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def read_bad_hashes(path: Path | None) -> frozenset[str]:
    """One sha256 (hex) per line; '#' starts a comment; a `sha256sum` line is accepted."""
    if path is None:
        return frozenset()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read known-bad hashes: {exc}", file=str(path)) from None
    hashes: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.split("#", 1)[0].strip().split(" ", 1)[0].lower()
        if not word:
            continue
        if not _SHA256.match(word):
            raise InputError(
                f"not a sha256: {word[:80]!r}",
                file=str(path),
                line=number,
                hint="one 64-hex-digit sha256 per line",
            )
        hashes.add(word)
    return frozenset(hashes)


def _shown(value: str) -> Text:
    # names are the attacker's: control characters (newlines...) shown escaped, no markup
    return Text("".join(c if c.isprintable() else repr(c)[1:-1] for c in value))


SCAN_HOSTS_ARGUMENT = typer.Argument(
    None, help="Hosts whose backups to scan (default: every host with restore_data_* set)."
)
REPO_OPTION = typer.Option(
    None,
    "--repo",
    help="restic repository to read instead of the inventory's "
    "restore_data_repository on restore_data_backup_host (a path or any restic URL).",
)
INDICATORS_OPTION = typer.Option(
    None, "--indicators", help="Extra indicators (same format as the shipped file)."
)
BAD_HASHES_OPTION = typer.Option(
    None, "--bad-hashes", help="Known-bad sha256 list; every file's content is then read."
)
RULES_OPTION = typer.Option(
    None,
    "--rules",
    help="Directory of YARA rules (*.yar, *.yara); every file's content is then matched.",
)
FILE_CAP_OPTION = typer.Option(
    64, "--file-cap-mib", min=1, help="Bytes read of any one file (MiB); beyond, truncated."
)


def scan(
    inventory: list[Path] = INVENTORIES_OPTION,
    hosts: list[str] | None = SCAN_HOSTS_ARGUMENT,
    repo: str | None = REPO_OPTION,
    indicators: Path | None = INDICATORS_OPTION,
    bad_hashes: Path | None = BAD_HASHES_OPTION,
    rules_dir: Path | None = RULES_OPTION,
    file_cap: int = FILE_CAP_OPTION,
    output: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,  # every command takes it (DESIGN §4)
) -> None:
    """Read every snapshot (restic find/dump, nothing restored onto a host); name the last clean."""
    from restore.backups.analysis import Rules
    from restore.backups.locate import scanned_hosts, source_for
    from restore.backups.scan import ScanOptions, scan_host
    from restore.backups.yara_rules import load as load_yara
    from restore.inputs.inventory import load_inventory
    from restore.integrity.checks.indicators import load_indicators

    rules = Rules(
        indicators=load_indicators(indicators),
        bad_hashes=read_bad_hashes(bad_hashes),
        yara=load_yara(rules_dir) if rules_dir is not None else None,
    )
    inv = load_inventory(inventory, with_secrets=True)
    sources = [source_for(h, inv, repo) for h in scanned_hosts(inv, list(hosts or []))]
    options = ScanOptions(rules=rules, file_cap=file_cap << 20)
    results = [scan_host(s, options, progress=console.info) for s in sources]
    if output is OutputFormat.JSON:
        console.emit_json({"hosts": [r.to_json() for r in results]})
    else:
        for result in results:
            _print_result(result)
    if any(r.last_clean is None and not r.error for r in results):
        raise typer.Exit(EXIT_NOT_CLEAN)
    if any(r.error for r in results):
        raise typer.Exit(EXIT_OPERATIONAL)


def _print_result(result: HostScan) -> None:
    """One host's snapshots as a table, then its last clean snapshot (or why there is none)."""
    table = Table(title=f"{result.source.host}: {result.source.location}", expand=False)
    for column in ("snapshot", "time", "verdict", "findings"):
        table.add_column(column)
    for snap in result.snapshots:
        shown = [f for f in snap.findings if f.severity != "note"][:3]
        lines = Text("\n").join(_shown(f"{f.check}: {f.path} ({f.detail})") for f in shown)
        table.add_row(snap.snapshot.short_id, snap.snapshot.time[:19], snap.verdict, lines)
    console.out.print(table)
    if result.error:
        console.error(f"{result.source.host}: {result.error}")
    elif result.last_clean:
        console.out.print(
            _shown(f"last clean: {result.last_clean.short_id} ({result.last_clean.time})")
        )
    else:
        console.out.print(_shown(f"{result.source.host}: no clean snapshot"))


def register(app: typer.Typer) -> None:
    backups_app.command("scan")(scan)
    app.add_typer(backups_app)
