"""The Linux check catalog: pure evaluations of the facts in linux_facts.

Strong indicators (verdict ``compromised``): a ransom note, files with ransomware
extensions, /etc/ld.so.preload entries, a modified system binary, a UID 0 account besides
root, a known rootkit module. Anything else that differs from the baseline, or that a
package did not install where intruders persist, is drift (verdict ``suspect``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from restore.integrity.checks.catalog import (
    Catalog,
    Check,
    Context,
    diff_keys,
    fail,
    ok,
    raw,
    sample,
    warn,
)
from restore.integrity.checks.linux_accounts import authorized_keys, privileged_accounts
from restore.integrity.checks.linux_facts import FACTS
from restore.integrity.checks.pam_generated import pam_unexplained
from restore.integrity.checks.persistence import ROOTS, catalog_summary, unexplained
from restore.models import Finding, Platform

Facts = Mapping[str, Any]
Baseline = Mapping[str, Any] | None

# Where a changed file means a trojaned system binary or library (merged-/usr aware).
SYSTEM_BINARY_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/lib", "/usr/lib")
STANDARD_SUID_DIRS = ("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/lib", "/lib")
# Package files that routinely differ or are absent on a healthy system.
_BENIGN_VERIFY_PREFIXES = (
    "/usr/share/doc/",
    "/usr/share/man/",
    "/usr/share/locale/",
    "/usr/share/info/",
    "/usr/share/lintian/",
)


# Configuration files under the persistence roots (a file root, or anything below a folder
# root): an edit there is not routine drift.
PERSISTENCE_CONFIG = ROOTS


def is_system_binary(path: str) -> bool:
    return path.startswith(SYSTEM_BINARY_DIRS)


def ransom_notes(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    notes = [f["path"] for f in facts["ransom_files"] if ctx.indicators.is_note(_name(f["path"]))]
    if notes:
        return [
            fail(
                "ransom_notes",
                f"{len(notes)} ransom note(s) found: {sample(notes, 2)}",
                notes,
                strong=True,
            )
        ]
    return [ok("ransom_notes", f"no ransom note in {', '.join(ctx.data_paths)}")]


def encrypted_files(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    hits = [
        (f["path"], ext)
        for f in facts["ransom_files"]
        if not ctx.indicators.is_note(_name(f["path"]))
        and (ext := ctx.indicators.encrypted_extension(_name(f["path"])))
    ]
    if hits:
        exts = sorted({"." + ext for _, ext in hits})
        paths = [p for p, _ in hits]
        return [
            fail(
                "encrypted_files",
                f"{len(hits)} file(s) with ransomware extensions ({', '.join(exts)}): "
                f"{sample(paths, 2)}",
                paths,
                strong=True,
            )
        ]
    return [ok("encrypted_files", "no file with a known ransomware extension in data paths")]


def package_integrity(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    rows = facts["packages"]
    binaries = [
        r["path"]
        for r in rows
        if r["digest_changed"] and not r["config"] and is_system_binary(r["path"])
    ]
    if binaries:
        return [
            fail(
                "package_integrity",
                f"modified system binary: {sample(binaries)} differs from its package",
                binaries,
                strong=True,
            )
        ]
    others = [
        r["path"]
        for r in rows
        if r["digest_changed"]
        and not r["config"]
        and not r["path"].startswith(_BENIGN_VERIFY_PREFIXES)
    ]
    if others:
        return [
            fail(
                "package_integrity",
                f"{len(others)} package file(s) differ from their package: {sample(others)}",
                others,
            )
        ]
    configs = sum(1 for r in rows if r["config"])
    return [
        ok(
            "package_integrity",
            "every package file matches its package"
            + (f" ({configs} edited config file(s) ignored)" if configs else ""),
        )
    ]


def critical_binaries(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    assert base is not None
    current, known = facts["hashes"], base.get("hashes", {})
    added, changed, removed = diff_keys(current, known)
    strong = [p for p in changed if is_system_binary(p)]
    findings = []
    if strong:
        findings.append(
            fail(
                "critical_binaries",
                f"modified system binary: {sample(strong)} differs from the baseline",
                strong,
                strong=True,
            )
        )
    drift = [p for p in changed if p not in strong]
    if drift or added or removed:
        parts = [
            f"{len(x)} {label} ({sample(x, 2)})"
            for x, label in ((drift, "changed"), (added, "new"), (removed, "removed"))
            if x
        ]
        findings.append(
            fail(
                "critical_files",
                "differs from the baseline: " + "; ".join(parts),
                drift + added + removed,
            )
        )
    if not findings:
        findings.append(ok("critical_binaries", f"{len(current)} files match the baseline"))
    return findings


def changed_since_incident(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    assert ctx.since is not None
    paths = [f["path"] for f in facts["changed_files"]]
    when = ctx.since.isoformat(timespec="minutes")
    if paths:
        return [
            fail(
                "changed_since_incident",
                f"{len(paths)} file(s) changed since the incident started ({when}): "
                f"{sample(paths, 2)}",
                paths,
            )
        ]
    return [ok("changed_since_incident", f"no file changed since {when}")]


def persistence(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    catalog: dict[str, str] = facts["persistence"]
    if base is None:
        odd = unexplained(catalog, facts["package_files"]) + pam_unexplained(facts["pam_generated"])
        odd += [
            (r["path"], "a configuration file edited since its package installed it")
            for r in facts["packages"]
            if r["config"] and r["digest_changed"] and r["path"].startswith(PERSISTENCE_CONFIG)
        ]
        if odd:
            shown = [f"{raw(p)}: {why}" for p, why in odd]
            # the bare path too, so that the evidence step copies what it can
            evidence = [
                e for p, why in odd for e in ((p,) if raw(p) == p else ()) + (f"{raw(p)}: {why}",)
            ]
            return [
                fail(
                    "persistence",
                    f"{len(odd)} start-up, cron, systemd, PAM or sudoers entr(y/ies) no package "
                    f"explains: {sample(shown, 2)}",
                    evidence,
                )
            ]
        return [
            ok(
                "persistence",
                f"every persistence entry comes from a package ({catalog_summary(catalog)})",
            )
        ]
    added, changed, removed = diff_keys(catalog, base.get("persistence", {}))
    if added or changed:
        paths = added + changed
        shown = [
            f"{p} ({catalog[p]})" if catalog[p].startswith(("link:", "special:")) else p
            for p in paths
        ]
        return [
            fail(
                "persistence",
                f"persistence entries differ from the baseline: {len(added)} new, "
                f"{len(changed)} changed ({sample(shown, 2)})",
                shown,
            )
        ]
    detail = "every persistence entry matches the baseline"
    return [ok("persistence", detail + (f" ({len(removed)} removed)" if removed else ""))]


def ld_preload(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    preload = facts["preload"]
    if preload["entries"]:
        return [
            fail(
                "ld_preload",
                f"/etc/ld.so.preload loads {sample(preload['entries'])} into every process",
                ["/etc/ld.so.preload", *preload["entries"]],
                strong=True,
            )
        ]
    if preload["present"]:
        return [
            warn("ld_preload", "/etc/ld.so.preload exists but is empty", ["/etc/ld.so.preload"])
        ]
    return [ok("ld_preload", "no /etc/ld.so.preload")]


def kernel_modules(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    modules: list[str] = facts["modules"]
    bad = [m for m in modules if m in ctx.indicators.rootkit_modules]
    if bad:
        return [
            fail(
                "kernel_modules", f"known rootkit module loaded: {', '.join(bad)}", bad, strong=True
            )
        ]
    if ctx.shared_kernel:
        return [
            ok(
                "kernel_modules",
                "no known rootkit module (lab host: the kernel is shared "
                "with the control node, so modules are not compared)",
            )
        ]
    if base is not None:
        new = sorted(set(modules) - set(base.get("modules", [])))
        if new:
            return [
                fail("kernel_modules", f"module(s) loaded since the baseline: {sample(new)}", new)
            ]
        return [ok("kernel_modules", f"{len(modules)} modules, all in the baseline")]
    return [ok("kernel_modules", f"no known rootkit module among {len(modules)} loaded")]


def suid_files(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    current: dict[str, str] = facts["suid"]
    if base is None:
        odd = sorted(p for p in current if not p.startswith(STANDARD_SUID_DIRS))
        if odd:
            return [
                fail(
                    "suid_files",
                    f"set-uid/gid file(s) outside system directories: {sample(odd)}",
                    odd,
                )
            ]
        return [ok("suid_files", f"{len(current)} set-uid/gid files, all in system directories")]
    added, changed, _ = diff_keys(current, base.get("suid", {}))
    findings = []
    trojaned = [p for p in changed if is_system_binary(p)]
    if trojaned:
        findings.append(
            fail(
                "suid_files", f"modified set-uid binary: {sample(trojaned)}", trojaned, strong=True
            )
        )
    other = added + [p for p in changed if p not in trojaned]
    if other:
        findings.append(
            fail(
                "suid_files",
                f"set-uid/gid files new or changed since the baseline: {sample(other)}",
                other,
            )
        )
    return findings or [ok("suid_files", f"{len(current)} set-uid/gid files match the baseline")]


def listening_ports(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    assert base is not None
    current: dict[str, str] = facts["ports"]
    new = sorted(set(current) - set(base.get("ports", {})))
    if new:
        shown = [f"{k} ({current[k]})" for k in new]
        return [fail("listening_ports", f"new listening socket(s): {sample(shown)}", shown)]
    return [ok("listening_ports", f"{len(current)} listening sockets, all in the baseline")]


def _name(path: str) -> str:
    """The file name, for Linux and Windows paths alike (the ransom checks serve both)."""
    return os.path.basename(path.replace("\\", "/"))


CATALOG = Catalog(
    platform=Platform.LINUX,
    facts=FACTS,
    checks=(
        Check("ransom_notes", ("ransom_files",), ransom_notes),
        Check("encrypted_files", ("ransom_files",), encrypted_files),
        Check("package_integrity", ("packages",), package_integrity),
        Check("critical_binaries", ("hashes",), critical_binaries, needs_baseline=True),
        Check("changed_since_incident", ("changed_files",), changed_since_incident),
        Check("privileged_accounts", ("accounts", "admin_groups"), privileged_accounts),
        Check("authorized_keys", ("authorized_keys", "accounts"), authorized_keys),
        Check(
            "persistence",
            ("persistence", "package_files", "packages", "pam_generated"),
            persistence,
        ),
        Check("ld_preload", ("preload",), ld_preload),
        Check("kernel_modules", ("modules",), kernel_modules),
        Check("suid_files", ("suid",), suid_files),
        Check("listening_ports", ("ports",), listening_ports, needs_baseline=True),
    ),
)
