"""The directory checks: pure functions from a snapshot (and a baseline) to findings.

Severity follows the hosts' rule: what only an attacker does (a new member of a privileged
group) is strong and makes the DC `compromised`; what differs from the known-good state or
is left undone (new accounts and SPNs, krbtgt not rotated twice) is drift, `suspect`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from restore.directory import krbtgt
from restore.directory.gpo_analysis import check_gpos, check_sysvol
from restore.directory.membership_dates import check_member_dates
from restore.directory.model import (
    UAC_SERVER_TRUST_ACCOUNT,
    UAC_TRUSTED_FOR_DELEGATION,
    Entry,
    RunProof,
    Snapshot,
    parse_generalized_time,
)
from restore.directory.privileged import all_members, privileged_members, protected_accounts
from restore.directory.sysvol import GpoFolder
from restore.integrity.checks.catalog import error, fail, ok, sample, warn
from restore.models import Finding

FORMAT = 1


def baseline_facts(snapshot: Snapshot) -> dict[str, Any]:
    """What `restore baseline capture` keeps of a directory (JSON, compared later)."""
    state = krbtgt_state(snapshot)
    return {
        "format": FORMAT,
        "base_dn": snapshot.base_dn,
        "domain_sid": snapshot.domain_sid,
        "privileged": privileged_members(snapshot),
        "user_spns": user_spns(snapshot),
        "unconstrained_delegation": unconstrained(snapshot),
        "rbcd": rbcd(snapshot),
        "krbtgt_key_version": state.key_version if state else None,
        "accounts": len([e for e in snapshot.entries if e.is_account]),
    }


def krbtgt_state(snapshot: Snapshot) -> krbtgt.KrbtgtState | None:
    entry = krbtgt.krbtgt_entry(snapshot)
    return krbtgt.state_of(entry) if entry else None


def user_spns(snapshot: Snapshot) -> dict[str, list[str]]:
    """SPNs on user accounts (computers carry SPNs by design; a user's is Kerberoastable)."""
    return {
        e.name.lower(): sorted(e.values("servicePrincipalName"))
        for e in snapshot.entries
        if e.is_account
        and not e.is_computer
        and e.rid != krbtgt.KRBTGT_RID  # kadmin/changepw by design
        and e.values("servicePrincipalName")
    }


def unconstrained(snapshot: Snapshot) -> list[str]:
    return sorted(
        e.name.lower()
        for e in snapshot.entries
        if e.is_account
        and e.uac & UAC_TRUSTED_FOR_DELEGATION
        and not e.uac & UAC_SERVER_TRUST_ACCOUNT  # DCs have it by design
    )


def rbcd(snapshot: Snapshot) -> list[str]:
    return sorted(
        e.name.lower()
        for e in snapshot.entries
        if e.values("msDS-AllowedToActOnBehalfOfOtherIdentity")
    )


def check_privileged(snapshot: Snapshot, base: dict[str, Any] | None) -> Finding:
    name = "dir-privileged-groups"
    now = privileged_members(snapshot)
    if base is None:
        listed = [f"{g}: {', '.join(m)}" for g, m in now.items() if m]
        return warn(name, "no directory baseline: privileged members listed, not compared", listed)
    added = []
    for group, members in now.items():
        known = set(base.get("privileged", {}).get(group, []))
        added += [f"{group}: {m}" for m in members if m not in known]
    if added:
        return fail(name, f"new privileged members: {sample(added)}", added, strong=True)
    return ok(name, f"privileged groups as in the baseline ({len(all_members(now))} accounts)")


def _made_by_this_run(entry: Entry, created: datetime, run: RunProof | None) -> bool:
    """The checked DC's own machine account, created when this run promoted it again: the
    restore's doing. Any other DC account created since the incident stays a finding (a
    rogue DC is how DCShadow hides its changes)."""
    return (
        run is not None
        and run.promoted_at is not None
        and run.own_account is not None
        and entry.name.lower() == run.own_account.lower()
        and bool(entry.uac & UAC_SERVER_TRUST_ACCOUNT)
        and created >= run.promoted_at
    )


def _ours(names: list[str]) -> str:
    return f" but this DC's own, by its promotion in this run: {', '.join(names)}" if names else ""


def check_new_accounts(
    snapshot: Snapshot, since: datetime | None, run: RunProof | None = None
) -> list[Finding]:
    if since is None:
        return [warn("dir-accounts-created", "no incident time given (--since): not checked")]
    created, changed, ours = [], [], []
    for entry in snapshot.entries:
        if not entry.is_account or entry.rid == krbtgt.KRBTGT_RID:  # its own check below
            continue
        made = parse_generalized_time(entry.first("whenCreated", "19700101000000.0Z"))
        if made >= since and _made_by_this_run(entry, made, run):
            ours.append(entry.name)
        elif made >= since:
            created.append(entry.name)
        elif parse_generalized_time(entry.first("whenChanged", "19700101000000.0Z")) >= since:
            changed.append(entry.name)
    findings = [
        fail(
            "dir-accounts-created",
            f"accounts created after the incident: {sample(created)}",
            sorted(created),
        )
        if created
        else ok(
            "dir-accounts-created",
            "no account created after the incident"
            + (
                f" but this DC's own, by its promotion in this run: {', '.join(ours)}"
                if ours
                else ""
            ),
        )
    ]
    # Logons and password changes also touch whenChanged: listed, not a verdict on its own.
    if changed:
        findings.append(
            warn(
                "dir-accounts-changed",
                f"accounts changed after the incident: {sample(sorted(changed))}",
                sorted(changed),
            )
        )
    return findings


def check_spns(snapshot: Snapshot, base: dict[str, Any] | None) -> Finding:
    name = "dir-spns"
    now = user_spns(snapshot)
    if base is None:
        listed = [f"{u}: {', '.join(s)}" for u, s in now.items()]
        if not listed:
            return ok(name, "no user account carries an SPN")
        return warn(name, "no directory baseline: user SPNs listed, not compared", listed)
    known = base.get("user_spns", {})
    new = [f"{u}: {s}" for u, spns in now.items() for s in spns if s not in known.get(u, [])]
    if new:
        return fail(name, f"new SPNs on user accounts (Kerberoasting): {sample(new)}", new)
    return ok(name, "user SPNs as in the baseline")


def check_admin_count(snapshot: Snapshot) -> Finding:
    name = "dir-admincount"
    protected = protected_accounts(snapshot)
    orphans = sorted(
        e.name
        for e in snapshot.entries
        if e.is_account
        and e.first("adminCount") == "1"
        and e.rid != krbtgt.KRBTGT_RID
        and e.name.lower() not in protected
    )
    if orphans:
        return fail(
            name,
            f"adminCount=1 outside the privileged groups (a former or hidden admin): "
            f"{sample(orphans)}",
            orphans,
        )
    return ok(name, "adminCount=1 only on members of protected groups")


def check_delegation(snapshot: Snapshot, base: dict[str, Any] | None) -> Finding:
    name = "dir-delegation"
    now_unconstrained, now_rbcd = unconstrained(snapshot), rbcd(snapshot)
    known_u = set((base or {}).get("unconstrained_delegation", []))
    known_r = set((base or {}).get("rbcd", []))
    new = [f"unconstrained: {a}" for a in now_unconstrained if a not in known_u]
    new += [f"resource-based: {a}" for a in now_rbcd if a not in known_r]
    if new:
        what = "new delegation" if base is not None else "delegation (no baseline)"
        return fail(name, f"{what}: {sample(new)}", new)
    return ok(name, "no new unconstrained or resource-based delegation")


def check_krbtgt(
    snapshot: Snapshot,
    since: datetime | None,
    base: dict[str, Any] | None,
    run: RunProof | None = None,
) -> Finding:
    """`run.krbtgt_rotated_from`: the key version a rotation of the running restore started
    from (the journal's proof); with a baseline too, the later of the two is the one to move
    from."""
    name = "dir-krbtgt"
    rotated_from = run.krbtgt_rotated_from if run is not None else None
    state = krbtgt_state(snapshot)
    if state is None:
        return error(name, "no krbtgt account in the directory read")
    base_kvno = (base or {}).get("krbtgt_key_version")
    starts = [int(base_kvno)] if base_kvno is not None else []
    starts += [rotated_from] if rotated_from is not None else []
    rotated, why = krbtgt.rotation_verdict(state, since, max(starts) if starts else None)
    if rotated and rotated_from is not None and rotated_from == max(starts):
        why += ", by this run's directory: rotate_krbtgt"
    return ok(name, why) if rotated else fail(name, why)


def evaluate(
    snapshot: Snapshot,
    since: datetime | None,
    base: dict[str, Any] | None,
    sysvol: Mapping[str, GpoFolder] | None = None,
    sysvol_problem: str | None = None,
    *,
    run: RunProof | None = None,
) -> list[Finding]:
    """Every directory check. A value the parsers cannot read is an error, never `clean`.
    `sysvol` (GPO GUID in upper case -> its folder) is None when SYSVOL was not read: with
    `sysvol_problem` saying why, that is an error; without, the SYSVOL check is not run."""
    findings: list[Finding] = []
    if snapshot.truncated:
        findings.append(error("dir-read", "the directory sent more objects than the cap"))
    if not snapshot.domain_sid:
        findings.append(error("dir-read", "the domain SID could not be found (no krbtgt)"))
        return findings
    if base is not None and base.get("domain_sid") not in (None, snapshot.domain_sid):
        findings.append(
            error("dir-baseline", "the baseline is of another domain (its SID differs)")
        )
        base = None
    checks: tuple[Callable[[], list[Finding]], ...] = (
        lambda: [check_privileged(snapshot, base)],
        lambda: [f for f in (check_member_dates(snapshot, since),) if f is not None],
        lambda: check_new_accounts(snapshot, since, run),
        lambda: [check_spns(snapshot, base)],
        lambda: [check_admin_count(snapshot)],
        lambda: [check_delegation(snapshot, base)],
        lambda: [check_gpos(snapshot, since, sysvol)],
        lambda: (
            [check_sysvol(snapshot, since, sysvol, sysvol_problem, base)]
            if sysvol is not None or sysvol_problem is not None
            else []
        ),
        lambda: [check_krbtgt(snapshot, since, base, run)],
    )
    for check in checks:
        try:
            findings.extend(check())
        except (ValueError, KeyError, TypeError) as exc:
            findings.append(error("dir-read", f"unreadable directory value: {exc}"))
    return findings
