"""The privileged groups of a domain and who is in them, nested membership resolved.

Groups are found by SID, not by name: a French Windows DC calls Domain Admins
"Admins du domaine". DnsAdmins has no well-known RID, so it alone is found by name.
Membership counts `member` (followed through nested groups) and `primaryGroupID`, which
never shows in `member`: an attacker who sets a user's primary group to Domain Admins is
otherwise invisible to a naive member listing.
"""

from __future__ import annotations

from collections.abc import Iterable

from restore.directory.model import Entry, Snapshot

# label -> (domain-relative RID, builtin SID, or name)
PRIVILEGED: dict[str, tuple[str, str]] = {
    "Domain Admins": ("rid", "512"),
    "Enterprise Admins": ("rid", "519"),
    "Schema Admins": ("rid", "518"),
    "Group Policy Creator Owners": ("rid", "520"),
    "Administrators": ("sid", "S-1-5-32-544"),
    "Account Operators": ("sid", "S-1-5-32-548"),
    "Server Operators": ("sid", "S-1-5-32-549"),
    "Print Operators": ("sid", "S-1-5-32-550"),
    "Backup Operators": ("sid", "S-1-5-32-551"),
    "DnsAdmins": ("name", "dnsadmins"),
}
# Also protected by AdminSDHolder (adminCount=1 is expected for their members)
PROTECTED_EXTRA: dict[str, tuple[str, str]] = {
    "Domain Controllers": ("rid", "516"),
    "Read-only Domain Controllers": ("rid", "521"),
    "Replicator": ("sid", "S-1-5-32-552"),
}


def find_group(snapshot: Snapshot, how: str, key: str) -> Entry | None:
    if "groups" not in snapshot.memo:
        index: dict[str, Entry] = {}
        for entry in snapshot.entries:
            if entry.is_group:
                index.setdefault(f"sid:{entry.sid}", entry)
                index.setdefault(f"name:{entry.name.lower()}", entry)
        snapshot.memo["groups"] = index
    groups: dict[str, Entry] = snapshot.memo["groups"]
    if how == "rid":
        return groups.get(f"sid:{snapshot.domain_sid}-{key}")
    return groups.get(f"{how}:{key}")


def resolve_members(snapshot: Snapshot, group: Entry) -> tuple[set[str], set[str]]:
    """(accounts, nested groups) of `group`, as lower-case sAMAccountNames (or DNs)."""
    by_dn = snapshot.by_dn()
    accounts: set[str] = set()
    nested: set[str] = set()
    seen = {group.dn.lower()}
    queue = [group]
    while queue:
        current = queue.pop()
        rid = current.rid
        if rid is not None:
            for entry in snapshot.primary_members().get(str(rid), []):
                accounts.add(entry.name.lower())
        for dn in current.values("member"):
            member = by_dn.get(dn.lower())
            if member is None:
                # foreign security principals, or an object the read account cannot see
                accounts.add(dn.lower())
                continue
            if member.is_group:
                if member.dn.lower() not in seen:
                    seen.add(member.dn.lower())
                    nested.add(member.name.lower())
                    queue.append(member)
            else:
                accounts.add(member.name.lower())
    return accounts, nested


def privileged_members(
    snapshot: Snapshot, groups: dict[str, tuple[str, str]] = PRIVILEGED
) -> dict[str, list[str]]:
    """label -> sorted effective member accounts (a missing group maps to no key)."""
    key = f"privileged:{','.join(groups)}"
    if key not in snapshot.memo:
        snapshot.memo[key] = _privileged_members(snapshot, groups)
    return {label: list(members) for label, members in snapshot.memo[key].items()}


def _privileged_members(
    snapshot: Snapshot, groups: dict[str, tuple[str, str]]
) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for label, (how, key) in groups.items():
        group = find_group(snapshot, how, key)
        if group is not None:
            result[label] = sorted(resolve_members(snapshot, group)[0])
    return result


def all_members(membership: dict[str, list[str]]) -> set[str]:
    return {m for members in membership.values() for m in members}


def protected_accounts(snapshot: Snapshot) -> set[str]:
    both = {**PRIVILEGED, **PROTECTED_EXTRA}
    return all_members(privileged_members(snapshot, both))


def names(entries: Iterable[Entry]) -> list[str]:
    return sorted(e.name for e in entries)


def privileged_groups(snapshot: Snapshot) -> dict[str, list[Entry]]:
    """label -> the group and every group nested in it (whose members are members too)."""
    by_name = {e.name.lower(): e for e in snapshot.entries if e.is_group}
    result: dict[str, list[Entry]] = {}
    for label, (how, key) in PRIVILEGED.items():
        group = find_group(snapshot, how, key)
        if group is None:
            continue
        nested = resolve_members(snapshot, group)[1]
        result[label] = [group, *(by_name[n] for n in sorted(nested) if n in by_name)]
    return result
