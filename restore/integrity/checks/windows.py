"""The Windows check catalog: pure evaluations of the facts in windows_facts.

Strong indicators: ransom notes, encrypted files, and evidence that shadow copies were
deleted (what ransomware does right before encrypting, so that nothing can be rolled back).
Drift: Defender off or stale, a cleared Security log (1102), and local administrators,
services, scheduled tasks, Run keys or WMI subscriptions that differ from the baseline (or,
with no baseline, that start programs from places intruders use).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from restore.integrity.checks.catalog import Catalog, Check, Context, diff_keys, fail, ok, sample
from restore.integrity.checks.linux import encrypted_files, ransom_notes
from restore.integrity.checks.windows_facts import FACTS
from restore.models import Finding, Platform

Facts = Mapping[str, Any]
Baseline = Mapping[str, Any] | None

# Launch locations and command lines that legitimate software rarely uses, and intruders do.
SUSPICIOUS_COMMAND = re.compile(
    r"(\s-e(nc(odedcommand)?)?\s|\\users\\public\\|\\appdata\\|\\temp\\|\\programdata\\[^\\]+\.exe"
    r"|frombase64string|downloadstring|invoke-expression|\biex\b|mshta|rundll32.*javascript)",
    re.IGNORECASE,
)
_WMI_EXEC_TYPES = ("commandlineeventconsumer", "activescripteventconsumer")


def defender(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    status = facts["defender"]
    problems = []
    if not status.get("AntivirusEnabled", True):
        problems.append("antivirus disabled")
    if not status.get("RealTimeProtectionEnabled", True):
        problems.append("real-time protection off")
    age = status.get("AntivirusSignatureAge")
    if isinstance(age, int) and age > ctx.signature_max_age_days:
        problems.append(f"signatures {age} days old")
    if problems:
        return [fail("defender", "Microsoft Defender: " + ", ".join(problems))]
    return [ok("defender", f"Defender on, signatures {age} day(s) old")]


def _compare(
    check: str, what: str, current: Mapping[str, str], known: Mapping[str, str] | None
) -> list[Finding]:
    if known is None:
        odd = sorted(k for k, v in current.items() if SUSPICIOUS_COMMAND.search(f" {v} "))
        if odd:
            shown = [f"{k}: {current[k]}" for k in odd]
            return [fail(check, f"{what} launching from a suspicious place: {shown[0]}", shown)]
        return [ok(check, f"{len(current)} {what}, none launching from a suspicious place")]
    added, changed, _ = diff_keys(current, known)
    if added or changed:
        shown = [f"{k}: {current[k]}" for k in added + changed]
        return [
            fail(
                check,
                f"{what} differ from the baseline ({len(added)} new, {len(changed)} changed): "
                f"{shown[0]}",
                shown,
            )
        ]
    return [ok(check, f"{len(current)} {what}, all in the baseline")]


def local_admins(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    current: list[str] = facts["local_admins"]
    if base is None:
        return [ok("local_admins", f"local administrators: {sample(current)}")]
    new = sorted(set(current) - set(base.get("local_admins", [])))
    if new:
        return [fail("local_admins", f"new local administrator(s): {', '.join(new)}", new)]
    return [ok("local_admins", "local administrators match the baseline")]


def services(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    known = base.get("services", {}) if base is not None else None
    return _compare("services", "services", facts["services"], known)


def scheduled_tasks(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    known = base.get("scheduled_tasks", {}) if base is not None else None
    return _compare("scheduled_tasks", "scheduled tasks", facts["scheduled_tasks"], known)


def run_keys(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    known = base.get("run_keys", {}) if base is not None else None
    return _compare("run_keys", "Run key entries", facts["run_keys"], known)


def wmi_subscriptions(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    current: dict[str, str] = facts["wmi_subscriptions"]
    known = base.get("wmi_subscriptions", {}) if base is not None else {}
    executing = sorted(
        k for k in current if k.lower().startswith(_WMI_EXEC_TYPES) and k not in known
    )
    if executing:
        shown = [f"{k}: {current[k]}" for k in executing]
        return [fail("wmi_subscriptions", f"WMI consumer running code: {shown[0]}", shown)]
    return [ok("wmi_subscriptions", "no WMI event consumer running commands or scripts")]


def security_log_cleared(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    events = facts["security_log_cleared"]
    if events:
        times = [str(e.get("TimeCreated", "?")) for e in events]
        return [
            fail(
                "security_log_cleared",
                f"the Security log was cleared (event 1102) at {sample(times, 2)}",
                [f"Security event 1102 at {t}" for t in times],
            )
        ]
    return [ok("security_log_cleared", "no Security log clearing (1102) on record")]


def shadow_copies(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    shadows = facts["shadow_copies"]
    if shadows["deletions"]:
        shown = [f"{d['time']}: {d['command']}" for d in shadows["deletions"]]
        return [
            fail(
                "shadow_copies",
                f"shadow copies deleted: {shown[0]}",
                shown,
                strong=True,
            )
        ]
    before = (base or {}).get("shadow_copies", {}).get("count")
    if before and shadows["count"] < before:
        return [
            fail(
                "shadow_copies",
                f"{shadows['count']} shadow copies left of {before} in the baseline",
            )
        ]
    return [ok("shadow_copies", f"{shadows['count']} shadow copies, no deletion on record")]


CATALOG = Catalog(
    platform=Platform.WINDOWS,
    facts=FACTS,
    checks=(
        Check("ransom_notes", ("ransom_files",), ransom_notes),
        Check("encrypted_files", ("ransom_files",), encrypted_files),
        Check("defender", ("defender",), defender),
        Check("local_admins", ("local_admins",), local_admins),
        Check("services", ("services",), services),
        Check("scheduled_tasks", ("scheduled_tasks",), scheduled_tasks),
        Check("run_keys", ("run_keys",), run_keys),
        Check("wmi_subscriptions", ("wmi_subscriptions",), wmi_subscriptions),
        Check("security_log_cleared", ("security_log_cleared",), security_log_cleared),
        Check("shadow_copies", ("shadow_copies",), shadow_copies),
    ),
)
