"""Baseline capture: the facts of known-good hosts, ready to be written as manifests.

A host that shows a strong indicator right now (ransom note, preload, extra UID 0...) is
not captured without ``force``: a baseline taken from a compromised host would bless the
compromise forever after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from restore.integrity.baseline import manifest_bytes
from restore.integrity.checks.catalog import Context
from restore.integrity.checks.indicators import load_indicators
from restore.integrity.checks.runner import (
    TRUNCATED,
    anomaly_findings,
    catalog_for,
    evaluate,
    gather_facts,
    host_context,
)
from restore.integrity.checks.verdict import aggregate
from restore.models import HostCheckResult, HostSpec, Platform, Verdict
from restore.transports import TransportError, make_transport


@dataclass(frozen=True)
class CaptureOutcome:
    host: str
    manifest: bytes | None
    detail: str


def capture_host(
    host: HostSpec,
    hash_paths: tuple[str, ...],
    *,
    force: bool = False,
    winrm_insecure: bool = False,
    timeout_s: float = 300.0,
    ldap_insecure: bool = False,
) -> CaptureOutcome:
    ctx = host_context(host, Context(indicators=load_indicators(), hash_paths=hash_paths))
    catalog = catalog_for(host.platform)
    transport = make_transport(host, winrm_insecure=winrm_insecure)
    anomalies: dict[str, list[str]] = {}
    try:
        transport.connect()
        names = [f.name for f in catalog.facts if f.in_baseline]
        facts, errors = gather_facts(transport, catalog, ctx, True, timeout_s, names, anomalies)
        # the no-baseline checks, on the facts a fresh check would gather
        probe, probe_errors = gather_facts(
            transport,
            catalog,
            ctx,
            False,
            timeout_s,
            [f.name for f in catalog.facts if not f.in_baseline and f.wanted(ctx, False)],
            anomalies,
        )
    except TransportError as exc:
        return CaptureOutcome(host.name, None, f"unreachable: {exc}")
    finally:
        transport.close()
    cut = [name for name, items in anomalies.items() if TRUNCATED in items]
    if cut:  # a baseline must never bless what the host chose to cut off
        return CaptureOutcome(
            host.name, None, f"refused: the host sent more than the cap for {', '.join(cut)}"
        )
    if errors:
        name, reason = next(iter(errors.items()))
        return CaptureOutcome(host.name, None, f"could not collect {name}: {reason}")
    from restore.directory.role import is_domain_controller

    if is_domain_controller(host):
        from restore.directory.checks import capture_facts
        from restore.directory.connection import DirectoryError

        try:
            facts["directory"] = capture_facts(host, ldap_insecure)
        except DirectoryError as exc:
            return CaptureOutcome(host.name, None, f"could not read the directory: {exc}")
    findings = evaluate(catalog, {**facts, **probe}, probe_errors, None, ctx)
    findings += anomaly_findings(anomalies)
    verdict = aggregate(findings)
    if verdict is Verdict.COMPROMISED and not force:
        reason = next(f.detail for f in findings if f.status.value == "fail")
        return CaptureOutcome(host.name, None, f"refused, host looks compromised: {reason}")
    paths = hash_paths if host.platform is Platform.LINUX else ()
    note = f"{len(facts)} facts" + (
        f", check verdict {verdict.value}" if verdict.value != "clean" else ""
    )
    return CaptureOutcome(host.name, manifest_bytes(host, facts, paths), note)


def capture_hosts(
    hosts: Sequence[HostSpec],
    hash_paths: tuple[str, ...],
    *,
    parallel: int = 8,
    force: bool = False,
    winrm_insecure: bool = False,
    on_done: Callable[[HostCheckResult], None] | None = None,
    ldap_insecure: bool = False,
) -> list[CaptureOutcome]:
    from concurrent.futures import ThreadPoolExecutor

    def one(host: HostSpec) -> CaptureOutcome:
        outcome = capture_host(
            host,
            hash_paths,
            force=force,
            winrm_insecure=winrm_insecure,
            ldap_insecure=ldap_insecure,
        )
        if on_done is not None:
            verdict = Verdict.CLEAN if outcome.manifest is not None else Verdict.UNREACHABLE
            on_done(HostCheckResult(host.name, host.platform, verdict, (), datetime.now(UTC)))
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(one, hosts))
