"""The Linux checks of who can log in: UID 0 and sudo/wheel accounts, and authorized SSH keys.

Pure evaluations of the facts in linux_facts, part of the Linux catalog (linux.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from restore.integrity.checks.catalog import Context, fail, ok, raw, sample
from restore.models import Finding

Facts = Mapping[str, Any]
Baseline = Mapping[str, Any] | None


def privileged_accounts(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    accounts: dict[str, Any] = facts["accounts"]
    uid0 = sorted(n for n, a in accounts.items() if a["uid"] == 0)
    known_uid0 = {"root"}
    if base is not None:
        known_uid0 |= {n for n, a in base.get("accounts", {}).items() if a["uid"] == 0}
    new_uid0 = [n for n in uid0 if n not in known_uid0]
    findings = []
    if new_uid0:
        findings.append(
            fail(
                "uid0_accounts",
                f"UID 0 account(s) besides root: {', '.join(new_uid0)}",
                [f"/etc/passwd:{n}" for n in new_uid0],
                strong=True,
            )
        )
    else:
        findings.append(ok("uid0_accounts", f"UID 0: {', '.join(uid0)}"))
    groups: dict[str, list[str]] = facts["admin_groups"]
    members = sorted({f"{g}:{m}" for g, ms in groups.items() for m in ms})
    if base is not None:
        known = {f"{g}:{m}" for g, ms in base.get("admin_groups", {}).items() for m in ms}
        new_accounts = sorted(set(accounts) - set(base.get("accounts", {})))
        extra = [m for m in members if m not in known]
        if extra:
            findings.append(
                fail("admin_groups", f"new sudo/wheel member(s): {sample(extra)}", extra)
            )
        else:
            findings.append(ok("admin_groups", "sudo/wheel members match the baseline"))
        if new_accounts:
            findings.append(
                fail(
                    "accounts",
                    f"new account(s) since the baseline: {sample(new_accounts)}",
                    new_accounts,
                )
            )
    else:
        findings.append(
            ok("admin_groups", f"sudo/wheel members: {sample(members) if members else 'none'}")
        )
    return findings


def authorized_keys(facts: Facts, base: Baseline, ctx: Context) -> list[Finding]:
    current: dict[str, str] = facts["authorized_keys"]
    if base is None:
        return _keys_without_baseline(current, facts["accounts"], ctx)
    added = sorted(set(current) - set(base.get("authorized_keys", {})))
    if added:
        shown = [f"{k} {current[k]}".strip() for k in added]
        return [fail("authorized_keys", f"{len(added)} new authorized key(s): {shown[0]}", shown)]
    return [ok("authorized_keys", f"{len(current)} authorized key(s), all in the baseline")]


def _system(account: Mapping[str, Any]) -> bool:
    """Not a person's account (Debian: UIDs 1000 to 59999 are people); unknown counts as system."""
    uid = account.get("uid")
    return not (isinstance(uid, int) and 1000 <= uid < 60000)


def _keys_without_baseline(
    current: dict[str, str], accounts: dict[str, Any], ctx: Context
) -> list[Finding]:
    """Root's and system accounts' keys must be ones the control side expects: nothing on
    the host can vouch for them. Other accounts' keys need a baseline to be judged."""
    system_homes = {"/root"} | {a["home"] for a in accounts.values() if _system(a) and a["home"]}
    unexpected: list[tuple[str, str, str, str]] = []
    others = 0
    for entry, comment in sorted(current.items()):
        path, kind, fp = entry.rsplit(" ", 2)
        if path.rpartition("/.ssh/")[0] not in system_homes:
            others += 1
        elif fp not in ctx.expected_keys:
            unexpected.append((path, kind, fp, comment))
    if unexpected:
        shown = [
            f"{raw(p)}: {kind} {fp}" + (f" ({raw(c, 60)})" if c else "")
            for p, kind, fp, c in unexpected
        ]
        files = sorted({p for p, *_ in unexpected if raw(p) == p})  # copied as evidence
        return [
            fail(
                "authorized_keys",
                f"{len(unexpected)} key(s) in root's or a system account's authorized_keys "
                f"that the inventory does not list (restore_authorized_keys): {shown[0]}",
                files + shown,
            )
        ]
    judged = len(current) - others
    note = f"; {others} key(s) of other accounts need a baseline to be judged" if others else ""
    return [
        ok("authorized_keys", f"{judged} key(s) of root and system accounts, all expected{note}")
    ]
