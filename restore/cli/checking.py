"""`restore check` and `restore baseline capture` (DESIGN §4).

Exit codes of `check`: 0 every host clean; 3 a host is suspect or compromised (this wins:
it is the news that matters); otherwise 1 when a host was unreachable; 2 bad input.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from restore.cli import console
from restore.cli.options import (
    ASK_VAULT_PASS_OPTION,
    FORMAT_OPTION,
    INVENTORIES_OPTION,
    STATE_DIR_OPTION,
    VAULT_PASSWORD_FILE_OPTION,
    OutputFormat,
)
from restore.errors import EXIT_NOT_CLEAN, EXIT_OPERATIONAL, InputError
from restore.models import HostCheckResult, HostSpec, Inventory, Verdict

if TYPE_CHECKING:  # the checks load only when a command runs
    from restore.integrity.checks.capture import CaptureOutcome

HOSTS_ARGUMENT = typer.Argument(None, help="Hosts or @groups to check (default: all).")
LDAP_INSECURE_OPTION = typer.Option(
    False,
    "--ldap-insecure",
    help="Do NOT validate domain controllers' LDAPS certificates (unsafe).",
)
baseline_app = typer.Typer(
    name="baseline", help="Known-good manifests to check hosts against.", no_args_is_help=True
)


def result_json(result: HostCheckResult) -> dict[str, Any]:
    return {
        "host": result.host,
        "platform": result.platform.value,
        "verdict": result.verdict.value,
        "checked_at": result.checked_at.isoformat() if result.checked_at else None,
        "findings": [
            {
                "check": f.check,
                "status": f.status.value,
                "detail": f.detail,
                "evidence": list(f.evidence),
                "severity": f.severity.value,
            }
            for f in result.findings
        ],
    }


def select_hosts(inventory: Inventory, names: list[str] | None) -> list[HostSpec]:
    if not names:
        return list(inventory.hosts)
    chosen: list[str] = []
    for name in names:
        if name.startswith("@"):
            try:
                members = list(inventory.group(name[1:]))
            except KeyError:
                raise InputError(f"unknown group '{name[1:]}'", file=inventory.source) from None
        elif name in inventory.host_names:
            members = [name]
        else:
            from restore.inputs.graph import did_you_mean

            raise InputError(
                f"unknown host '{name}'",
                file=inventory.source,
                hint=did_you_mean(name, inventory.host_names) or "see the inventory",
            )
        chosen += [m for m in members if m not in chosen]
    return [inventory.host(n) for n in chosen]


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--since {value!r} is not an ISO date",
            key="--since",
            hint="e.g. 2026-11-20T01:30+01:00",
        ) from None
    return when if when.tzinfo else when.astimezone()


def _run_with_progress(hosts: list[HostSpec], label: str, work: Any, parallel: int) -> Any:
    from restore.cli.progress import steps

    with steps(label, len(hosts)) as advance:

        def done(result: HostCheckResult) -> None:
            advance(f"{result.host}: {result.verdict}")

        return work(done)


BASELINE_OPTION = typer.Option(None, "--baseline", help="Baseline directory.")
BASELINE_SHA256_OPTION = typer.Option(
    None, "--baseline-sha256", help="Expected sha256 of the baseline index (from capture)."
)
INDICATORS_OPTION = typer.Option(
    None, "--indicators", help="Extra indicators (same format as the shipped file)."
)
DATA_PATH_OPTION = typer.Option(
    None, "--data-path", help="Where to look for ransom notes (repeatable)."
)
SINCE_OPTION = typer.Option(
    None, "--since", help="Incident start (ISO date): list files changed after it."
)
CHECK_PARALLEL_OPTION = typer.Option(8, "--parallel", min=1, help="Hosts checked at once.")
HOST_TIMEOUT_OPTION = typer.Option(600, "--host-timeout", min=1, help="Seconds per host.")
COMMAND_TIMEOUT_OPTION = typer.Option(120, "--command-timeout", min=1)
NO_EVIDENCE_OPTION = typer.Option(False, "--no-evidence", help="Do not copy evidence.")
WINRM_INSECURE_CHECK_OPTION = typer.Option(
    False, "--winrm-insecure", help="Do NOT validate WinRM HTTPS certificates (unsafe)."
)


def _warn_insecure(winrm_insecure: bool, ldap_insecure: bool) -> None:
    if winrm_insecure:
        console.warn("--winrm-insecure: WinRM certificates are NOT validated")
    if ldap_insecure:
        console.warn("--ldap-insecure: domain controllers' LDAPS certificates are NOT validated")


def check(
    inventory: list[Path] = INVENTORIES_OPTION,
    vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
    ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
    hosts: list[str] | None = HOSTS_ARGUMENT,
    baseline: Path | None = BASELINE_OPTION,
    baseline_sha256: str | None = BASELINE_SHA256_OPTION,
    indicators: Path | None = INDICATORS_OPTION,
    data_path: list[str] | None = DATA_PATH_OPTION,
    since: str | None = SINCE_OPTION,
    parallel: int = CHECK_PARALLEL_OPTION,
    host_timeout: float = HOST_TIMEOUT_OPTION,
    command_timeout: float = COMMAND_TIMEOUT_OPTION,
    no_evidence: bool = NO_EVIDENCE_OPTION,
    winrm_insecure: bool = WINRM_INSECURE_CHECK_OPTION,
    ldap_insecure: bool = LDAP_INSECURE_OPTION,
    output: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Integrity verdict per host: clean, suspect, compromised or unreachable."""
    from restore.inputs.inventory import load_inventory
    from restore.integrity.baseline import load_baselines
    from restore.integrity.checks.catalog import DEFAULT_DATA_PATHS, Context
    from restore.integrity.checks.expected_keys import validate_expected_keys
    from restore.integrity.checks.indicators import load_indicators
    from restore.integrity.checks.runner import CheckOptions, check_hosts
    from restore.integrity.evidence import EvidenceStore

    inv = load_inventory(inventory, with_secrets=True)
    chosen = select_hosts(inv, hosts)
    validate_expected_keys(chosen)  # a bad restore_authorized_keys: exit 2 before any host
    ctx = Context(
        indicators=load_indicators(indicators),
        data_paths=tuple(data_path) if data_path else DEFAULT_DATA_PATHS,
        since=_parse_since(since),
    )
    options = CheckOptions(
        context=ctx,
        baselines=load_baselines(baseline, baseline_sha256) if baseline else None,
        evidence=None if no_evidence else EvidenceStore(state_dir),
        winrm_insecure=winrm_insecure,
        ldap_insecure=ldap_insecure,
        command_timeout_s=command_timeout,
        host_timeout_s=host_timeout,
    )
    _warn_insecure(winrm_insecure, ldap_insecure)
    results = _run_with_progress(
        chosen,
        "checking",
        lambda done: check_hosts(chosen, options, parallel=parallel, on_done=done),
        parallel,
    )
    if output is OutputFormat.JSON:
        console.emit_json({"hosts": [result_json(r) for r in results]})
    else:
        _print_table(results)
    _exit_for_verdicts({r.verdict for r in results})


def _exit_for_verdicts(verdicts: set[Verdict]) -> None:
    """A suspect or compromised host wins over an unreachable one: it is the news that matters."""
    if verdicts & {Verdict.SUSPECT, Verdict.COMPROMISED}:
        raise typer.Exit(EXIT_NOT_CLEAN)
    if Verdict.UNREACHABLE in verdicts:
        raise typer.Exit(EXIT_OPERATIONAL)


_STYLE = {
    Verdict.CLEAN: "green",
    Verdict.SUSPECT: "yellow",
    Verdict.COMPROMISED: "bold red",
    Verdict.UNREACHABLE: "magenta",
}


def _print_table(results: list[HostCheckResult]) -> None:
    from restore.integrity.checks.verdict import explain

    table = Table(title="Integrity check")
    for column in ("host", "platform", "verdict", "why"):
        table.add_column(column)
    for r in results:
        table.add_row(
            console.styled(r.host),
            r.platform.value,
            console.styled(r.verdict.value, _STYLE[r.verdict]),
            console.styled(explain(r.verdict, r.findings)),
        )
    console.out.print(table)
    for r in results:
        for f in r.findings:
            if f.status.value in {"fail", "error"}:
                console.out.print(
                    console.styled(f"  {r.host} [{f.status.value}] {f.check}: {f.detail}"),
                    markup=False,
                    highlight=False,
                )


OUTPUT_DIR_OPTION = typer.Option(..., "-o", "--output", help="Baseline directory.")
HASH_PATH_OPTION = typer.Option(
    None, "--hash-path", help="Extra file tree to hash into the baseline (repeatable)."
)
FORCE_OPTION = typer.Option(
    False, "--force", help="Capture even from a host that shows strong indicators."
)
CAPTURE_PARALLEL_OPTION = typer.Option(8, "--parallel", min=1)
WINRM_INSECURE_CAPTURE_OPTION = typer.Option(False, "--winrm-insecure")


@baseline_app.command("capture")
def capture(
    inventory: list[Path] = INVENTORIES_OPTION,
    vault_password_file: list[Path] | None = VAULT_PASSWORD_FILE_OPTION,
    ask_vault_pass: bool = ASK_VAULT_PASS_OPTION,
    hosts: list[str] | None = HOSTS_ARGUMENT,
    output_dir: Path = OUTPUT_DIR_OPTION,
    hash_path: list[str] | None = HASH_PATH_OPTION,
    force: bool = FORCE_OPTION,
    parallel: int = CAPTURE_PARALLEL_OPTION,
    winrm_insecure: bool = WINRM_INSECURE_CAPTURE_OPTION,
    ldap_insecure: bool = LDAP_INSECURE_OPTION,
    output: OutputFormat = FORMAT_OPTION,
    state_dir: Path = STATE_DIR_OPTION,
) -> None:
    """Write one known-good manifest per host (hashes, accounts, keys, units, ports...)."""
    from restore.inputs.inventory import load_inventory
    from restore.integrity.baseline import write_baselines
    from restore.integrity.checks.capture import capture_hosts
    from restore.integrity.checks.catalog import DEFAULT_HASH_PATHS

    inv = load_inventory(inventory, with_secrets=True)
    chosen = select_hosts(inv, hosts)
    paths = DEFAULT_HASH_PATHS + tuple(hash_path or ())
    outcomes = _run_with_progress(
        chosen,
        "capturing",
        lambda done: capture_hosts(
            chosen,
            paths,
            parallel=parallel,
            force=force,
            winrm_insecure=winrm_insecure,
            on_done=done,
            ldap_insecure=ldap_insecure,
        ),
        parallel,
    )
    manifests = {o.host: o.manifest for o in outcomes if o.manifest is not None}
    digest = write_baselines(output_dir, manifests) if manifests else None
    if output is OutputFormat.JSON:
        console.emit_json(_capture_json(output_dir, digest, outcomes))
    else:
        _print_capture(outcomes, digest)
    if any(o.manifest is None for o in outcomes):
        raise typer.Exit(EXIT_OPERATIONAL)


def _capture_json(
    output_dir: Path, digest: str | None, outcomes: list[CaptureOutcome]
) -> dict[str, Any]:
    return {
        "directory": str(output_dir),
        "index_sha256": digest,
        "hosts": [
            {"host": o.host, "captured": o.manifest is not None, "detail": o.detail}
            for o in outcomes
        ],
    }


def _print_capture(outcomes: list[CaptureOutcome], digest: str | None) -> None:
    for o in outcomes:
        mark = "captured" if o.manifest is not None else "NOT captured"
        console.info(f"{o.host}: {mark} ({o.detail})")
    if digest:
        console.info(
            f"index sha256 {digest}: keep it off this machine; "
            "pass it to `restore check --baseline-sha256`"
        )


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.add_typer(baseline_app)
