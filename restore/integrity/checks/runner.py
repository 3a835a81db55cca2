"""Check one host, or many in parallel, against the catalog of its platform.

Public entry points (the engine's ``check`` and ``evidence`` steps call these):

    check_host(host: HostSpec, options: CheckOptions, *, transport: Transport | None = None)
        -> HostCheckResult
        Connects (unless given a connected transport; it is then left open), gathers the
        facts the checks need, evaluates them, aggregates the verdict. Never raises for a
        host problem: an unreachable host is the verdict ``unreachable`` with a finding
        saying why. Evidence is collected when ``options.evidence`` is an EvidenceStore.

    gather_facts(transport, catalog, ctx, has_baseline, timeout_s) -> (facts, errors)
        The facts only (``restore baseline capture`` writes them into a manifest).

    check_hosts(hosts, options, *, parallel=8, on_done=None) -> list[HostCheckResult]
        check_host over many hosts with a bound on concurrency and a hard per-host
        deadline (``options.host_timeout_s``): a hung host yields ``unreachable`` on time,
        and its worker thread is abandoned (daemon) with its connection closed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from restore.integrity.checks.catalog import (
    MAX_LISTED,
    Catalog,
    Context,
    FactError,
    Parsed,
    error,
    fail,
    sample,
    warn,
)
from restore.integrity.checks.verdict import aggregate
from restore.models import Finding, FindingStatus, HostCheckResult, HostSpec, Platform, Verdict
from restore.transports import Transport, TransportError, make_transport

if TYPE_CHECKING:
    from restore.directory.model import RunProof
    from restore.integrity.baseline import BaselineSet
    from restore.integrity.evidence import EvidenceStore


@dataclass(frozen=True)
class CheckOptions:
    context: Context
    baselines: BaselineSet | None = None
    evidence: EvidenceStore | None = None
    winrm_insecure: bool = False
    # a domain controller's directory over LDAPS without certificate validation (unsafe)
    ldap_insecure: bool = False
    # the incident for the directory checks when `context.since` is cleared (a reimaged DC's
    # files are all new, but its directory still holds whatever the attacker changed)
    directory_since: datetime | None = None
    # what the running restore did to a DC's directory (restore.execution.steps.run_proof):
    # its krbtgt rotation, its promotion; None outside a run
    directory_run: RunProof | None = None
    connect_timeout_s: float = 15.0
    command_timeout_s: float = 120.0
    host_timeout_s: float = 600.0


def catalog_for(platform: Platform) -> Catalog:
    if platform is Platform.WINDOWS:
        from restore.integrity.checks.windows import CATALOG as WINDOWS

        return WINDOWS
    from restore.integrity.checks.linux import CATALOG as LINUX

    return LINUX


def host_context(host: HostSpec, ctx: Context) -> Context:
    """The options as they apply to this host (platform defaults, lab kernel sharing)."""
    ctx = replace(ctx, platform=host.platform, shared_kernel=bool(host.var("restore_lab")))
    if host.platform is Platform.LINUX:
        from restore.integrity.checks.expected_keys import expected_keys

        ctx = replace(ctx, expected_keys=expected_keys(host))
    if host.platform is Platform.WINDOWS and ctx.data_paths and ctx.data_paths[0].startswith("/"):
        from restore.integrity.checks.catalog import DEFAULT_WINDOWS_DATA_PATHS

        ctx = replace(ctx, data_paths=DEFAULT_WINDOWS_DATA_PATHS)
    from restore.directory.role import is_domain_controller

    if is_domain_controller(host) and host.platform is Platform.LINUX:
        # A Samba DC rewrites its directory database under /var/lib/samba/private all the
        # time; its content is judged over LDAP. Its SYSVOL (GPO files) stays watched.
        paths = tuple(p for p in ctx.data_paths if p != "/var/lib")
        if len(paths) != len(ctx.data_paths):
            ctx = replace(ctx, data_paths=(*paths, "/var/lib/samba/sysvol"))
    return ctx


def gather_facts(
    transport: Transport,
    catalog: Catalog,
    ctx: Context,
    has_baseline: bool,
    timeout_s: float,
    names: Sequence[str] | None = None,
    anomalies: dict[str, list[str]] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(facts, errors). ``anomalies`` (when given) receives, per fact, what the host sent
    that cannot be trusted: output cut at the control node's cap, lines no parser knows."""
    facts: dict[str, Any] = {}
    errors: dict[str, str] = {}
    odd = anomalies if anomalies is not None else {}
    for fact in catalog.facts:
        if names is not None and fact.name not in names:
            continue
        if names is None and not fact.wanted(ctx, has_baseline):
            continue
        output = transport.run(fact.command(ctx), timeout=timeout_s)
        if output.truncated:
            odd.setdefault(fact.name, []).insert(0, TRUNCATED)
            # what arrived before the cap is still read: a strong indicator in it counts
            output = replace(output, rc=0)
        try:
            parsed = fact.parse(output)
        except FactError as exc:
            errors[fact.name] = str(exc)
            continue
        except Exception as exc:  # a parser meeting a shape it never expected: data, not a crash
            errors[fact.name] = f"unreadable output ({type(exc).__name__}: {exc})"
            continue
        if isinstance(parsed, Parsed):
            facts[fact.name] = parsed.value
            if parsed.unaccounted:
                odd.setdefault(fact.name, []).extend(parsed.unaccounted)
        else:
            facts[fact.name] = parsed
    return facts, errors


TRUNCATED = "output cut: the host sent more than the control node's cap"


def anomaly_findings(anomalies: dict[str, list[str]]) -> list[Finding]:
    """Suspect findings for output that was cut or that no parser could account for."""
    findings = []
    cut = sorted(name for name, items in anomalies.items() if TRUNCATED in items)
    if cut:
        findings.append(
            fail(
                "output_truncated",
                f"the host sent more output than the control node accepts for {', '.join(cut)}: "
                "cut, and not trusted",
                [f"{name}: {TRUNCATED}" for name in cut],
            )
        )
    for name, items in sorted(anomalies.items()):
        lines = [item for item in items if item != TRUNCATED]
        if lines:
            findings.append(
                fail(
                    "unparsed_output",
                    f"{name}: {len(lines)} line(s) or record(s) no parser accounts for: "
                    f"{sample(lines[:MAX_LISTED], 1)}",
                    [f"{name}: {line}" for line in lines],
                )
            )
    return findings


def evaluate(
    catalog: Catalog,
    facts: dict[str, Any],
    errors: dict[str, str],
    baseline: dict[str, Any] | None,
    ctx: Context,
) -> list[Finding]:
    findings: list[Finding] = []
    skipped = []
    for check in catalog.checks:
        if check.needs_baseline and baseline is None:
            skipped.append(check.name)
            continue
        wanted = [f for f in check.facts if catalog.fact(f).wanted(ctx, baseline is not None)]
        if not wanted:
            continue
        failed = [f"{f}: {errors[f]}" for f in wanted if f in errors]
        if failed:
            findings.append(error(check.name, f"could not collect {'; '.join(failed)}"))
            continue
        try:
            findings.extend(check.evaluate(facts, baseline, ctx))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # e.g. another format
            findings.append(error(check.name, f"could not evaluate: {type(exc).__name__} {exc}"))
    if skipped:
        findings.append(
            warn("baseline", f"no baseline for this host: {', '.join(skipped)} not compared")
        )
    return findings


def check_host(
    host: HostSpec, options: CheckOptions, *, transport: Transport | None = None
) -> HostCheckResult:
    started = datetime.now(UTC)
    catalog = catalog_for(host.platform)
    findings: list[Finding] = []
    ctx, baseline = _with_baseline(host, host_context(host, options.context), options, findings)
    own = transport is None
    try:
        if transport is None:
            transport = make_transport(host, winrm_insecure=options.winrm_insecure)
        transport.connect(options.connect_timeout_s)
    except TransportError as exc:
        return _unreachable(host, [error("connect", str(exc))], started)
    try:
        anomalies: dict[str, list[str]] = {}
        facts, errors = gather_facts(
            transport,
            catalog,
            ctx,
            baseline is not None,
            options.command_timeout_s,
            None,
            anomalies,
        )
        findings += evaluate(catalog, facts, errors, baseline, ctx)
        findings += anomaly_findings(anomalies)
        findings += _directory_findings(host, ctx, baseline, options)
        if options.evidence is not None:
            findings = options.evidence.collect(transport, host, findings)
    except TransportError as exc:
        lost = error("connect", f"connection lost during checks: {exc}")
        return _unreachable(host, [*findings, lost], started)
    finally:
        if own:
            transport.close()
    return HostCheckResult(
        host=host.name,
        platform=host.platform,
        verdict=aggregate(findings),
        findings=tuple(findings),
        checked_at=started,
    )


def _with_baseline(
    host: HostSpec, ctx: Context, options: CheckOptions, findings: list[Finding]
) -> tuple[Context, dict[str, Any] | None]:
    """The host's baseline facts, if baselines were given, and the context that re-hashes
    exactly the trees the baseline hashed; a baseline problem is a finding (added here)."""
    if options.baselines is None:
        return ctx, None
    manifest, problem = options.baselines.manifest(host.name)
    if problem:
        findings.append(error("baseline", problem))
    if manifest is None:
        return ctx, None
    ctx = replace(ctx, hash_paths=tuple(manifest.get("hash_paths", ctx.hash_paths)))
    return ctx, manifest["facts"]


def _unreachable(
    host: HostSpec, findings: Sequence[Finding], checked_at: datetime
) -> HostCheckResult:
    return HostCheckResult(
        host=host.name,
        platform=host.platform,
        verdict=Verdict.UNREACHABLE,
        findings=tuple(findings),
        checked_at=checked_at,
    )


def _directory_findings(
    host: HostSpec, ctx: Context, baseline: dict[str, Any] | None, options: CheckOptions
) -> list[Finding]:
    """A domain controller's directory, checked over LDAPS in the same verdict."""
    from restore.directory.role import is_domain_controller

    if not is_domain_controller(host):
        return []
    from restore.directory.checks import directory_findings

    return directory_findings(
        host,
        ctx.since or options.directory_since,
        (baseline or {}).get("directory"),
        insecure=options.ldap_insecure,
        evidence_root=options.evidence.root if options.evidence is not None else None,
        run=options.directory_run,
    )


def check_hosts(
    hosts: Sequence[HostSpec],
    options: CheckOptions,
    *,
    parallel: int = 8,
    on_done: Callable[[HostCheckResult], None] | None = None,
) -> list[HostCheckResult]:
    """Results in the order of ``hosts``; each host bounded by options.host_timeout_s."""
    results: dict[str, HostCheckResult] = {}
    slots = threading.Semaphore(max(1, parallel))
    lock = threading.Lock()
    done = threading.Condition(lock)

    def finish(result: HostCheckResult) -> None:
        with done:
            if result.host in results:  # the watchdog already gave up on this host
                return
            results[result.host] = result
            done.notify_all()
        if on_done is not None:
            on_done(result)

    def work(host: HostSpec, transport: Transport) -> None:
        try:
            finish(check_host(host, options, transport=transport))
        except Exception as exc:  # one host's bug must not take the others down
            finish(_broken(host, f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            transport.close()

    pending: list[tuple[HostSpec, threading.Thread, Transport, float]] = []
    queue = list(hosts)
    while queue or pending:
        while queue and slots.acquire(blocking=False):
            host = queue.pop(0)
            transport = make_transport(host, winrm_insecure=options.winrm_insecure)
            thread = threading.Thread(target=work, args=(host, transport), daemon=True)
            thread.start()
            pending.append((host, thread, transport, time.monotonic() + options.host_timeout_s))
        with done:
            done.wait(timeout=0.2)
        still = []
        for host, thread, transport, deadline in pending:
            # done once its worker has ended, not once its result is in: the worker still
            # reports it (on_done) and closes its transport, and a worker left running as
            # the program exits can hang it on the output's lock
            if not thread.is_alive():
                slots.release()
                continue
            if time.monotonic() > deadline:
                silent = error("connect", f"no answer within {options.host_timeout_s:.0f}s")
                finish(_unreachable(host, [silent], datetime.now(UTC)))
                transport.close()  # unblocks the abandoned worker where the library allows
                slots.release()
                continue
            still.append((host, thread, transport, deadline))
        pending = still
    return [results[h.name] for h in hosts]


def _broken(host: HostSpec, detail: str) -> HostCheckResult:
    return HostCheckResult(
        host=host.name,
        platform=host.platform,
        verdict=Verdict.SUSPECT,
        findings=(Finding("internal", FindingStatus.ERROR, detail),),
        checked_at=datetime.now(UTC),
    )
