"""GPOs: changed after the incident (LDAP), and what their SYSVOL files deploy (SMB). Pure.

A GPO changed after the incident that now carries a task or a script is how LockBit
reached every computer of a domain: only an attacker (or an admin during the incident, who
then signs a waiver) does that, so it is strong (`compromised`). A GPO changed without such
content, or a SYSVOL file written after the incident, is drift (`suspect`). What SYSVOL held
that could not be accounted for (a link, a special file, a file over the read cap, a file no
parser reads, a folder the read account cannot list) is never `clean`. With a directory
baseline that records SYSVOL, files are compared by hash (`sysvol_baseline`), not by write
time: the writer of a file over SMB sets its times too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from restore.directory import sysvol_baseline
from restore.directory.gpo_files import raw
from restore.directory.model import Entry, Snapshot, parse_generalized_time
from restore.directory.sysvol import GpoFolder
from restore.integrity.checks.catalog import error, fail, ok, sample, warn
from restore.models import Finding


def gpo_label(gpo: Entry) -> str:
    return f"{raw(gpo.first('displayName') or '?', 120)} {raw(gpo.first('name'), 60)}"


def changed_gpos(snapshot: Snapshot, since: datetime) -> list[Entry]:
    return [
        g
        for g in snapshot.gpos
        if parse_generalized_time(g.first("whenChanged", "19700101000000.0Z")) >= since
    ]


def check_gpos(
    snapshot: Snapshot, since: datetime | None, folders: Mapping[str, GpoFolder] | None
) -> Finding:
    name = "dir-gpo-changed"
    if since is None:
        return warn(name, "no incident time given (--since): not checked")
    changed = changed_gpos(snapshot, since)
    if not changed:
        return ok(name, f"no GPO changed after the incident ({len(snapshot.gpos)} GPOs)")
    evidence: list[str] = []
    executes = False
    for gpo in sorted(changed, key=gpo_label):
        folder = (folders or {}).get(gpo.first("name").upper())
        evidence.append(gpo_label(gpo))
        if folder is not None:
            evidence += [f"  {item}" for item in folder.deployed]
            executes = executes or folder.executes
    labels = sorted(gpo_label(g) for g in changed)
    if executes:
        deployed = [e.strip() for e in evidence if e.startswith("  ")]
        return fail(
            name,
            f"GPOs changed after the incident deploy code to their computers: "
            f"{sample(deployed, 2)}",
            evidence,
            strong=True,
        )
    suffix = "" if folders is not None else " (SYSVOL not read)"
    return fail(name, f"GPOs changed after the incident{suffix}: {sample(labels)}", evidence)


def check_sysvol(
    snapshot: Snapshot,
    since: datetime | None,
    folders: Mapping[str, GpoFolder] | None,
    problem: str | None,
    base: Mapping[str, Any] | None = None,
) -> Finding:
    """Every GPO folder read, against the baseline's SYSVOL record when the directory
    baseline has one (files added, changed, removed: whatever their times say), else by
    write time (files written after the incident); and always, what was not read."""
    name = "dir-sysvol"
    if problem is not None:
        return error(name, f"SYSVOL not read: {problem}")
    if folders is None:
        return warn(name, "SYSVOL not read")
    labels = {g.first("name").upper(): gpo_label(g) for g in snapshot.gpos}
    record = (base or {}).get("sysvol")
    known_missing = sysvol_baseline.recorded_missing(record)
    unaccounted, count = _unaccounted(folders, labels, known_missing)
    if record is not None:
        return _against_baseline(snapshot, folders, labels, record, unaccounted, count)
    written = [
        f"{labels.get(guid, raw(guid, 60))}: {raw(f.path, 200)} "
        f"({f.size} bytes, sha256:{f.sha256[:16]})"
        for guid, folder in sorted(folders.items())
        for f in folder.files
        if since is not None and f.modified is not None and f.modified >= since
    ]
    if unaccounted:
        return fail(
            name,
            f"SYSVOL holds what could not be accounted for: {sample(unaccounted, 2)}",
            unaccounted + written,
        )
    if written:
        return fail(name, f"SYSVOL files written after the incident: {sample(written)}", written)
    # without a baseline, a file whose times the writer set back is not seen here
    suffix = "" if base is None else " (the directory baseline has no SYSVOL record)"
    return ok(
        name,
        f"SYSVOL: {count} files in {len(folders)} GPO folders, none after the incident{suffix}",
    )


def _unaccounted(
    folders: Mapping[str, GpoFolder], labels: Mapping[str, str], known_missing: frozenset[str]
) -> tuple[list[str], int]:
    """What the read could not account for (links, special files, files over the cap, files
    no parser reads, cut folders, a GPO without a folder unless the baseline saw it so), and
    how many files were read."""
    unaccounted: list[str] = []
    count = 0
    for guid, folder in sorted(folders.items()):
        where = labels.get(guid, raw(guid, 60))
        unaccounted += [f"{where}: {p}" for p in folder.problems]
        if folder.missing and guid not in known_missing:
            unaccounted.append(f"{where}: no folder for this GPO in SYSVOL")
        for f in folder.files:
            count += 1
            path = f"{where}: {raw(f.path, 200)}"
            if f.kind == "link":
                unaccounted.append(f"{path} is a link to {raw(f.target, 200)} (not followed)")
            elif f.kind != "file":
                unaccounted.append(f"{path} is not a regular file (not opened)")
            elif f.truncated:
                unaccounted.append(f"{path}: {f.size} bytes, read up to the cap only")
            unaccounted += [f"{path}: {p}" for p in f.deployed.problems]
    return unaccounted, count


def _against_baseline(
    snapshot: Snapshot,
    folders: Mapping[str, GpoFolder],
    labels: Mapping[str, str],
    record: Any,
    unaccounted: list[str],
    count: int,
) -> Finding:
    name = "dir-sysvol"
    listed = frozenset(g.first("name").upper() for g in snapshot.gpos)
    try:
        found = sysvol_baseline.compare(folders, record, labels, listed)
    except (ValueError, TypeError, AttributeError) as exc:
        return error(name, f"the baseline's SYSVOL record cannot be read: {raw(str(exc))}")
    if found.changes:
        return fail(
            name,
            f"SYSVOL differs from the baseline: {sample(list(found.changes), 2)}",
            [*found.changes, *found.cut, *unaccounted],
            strong=found.strong,
        )
    if unaccounted or found.cut:
        shown = [*found.cut, *unaccounted]
        return fail(
            name,
            f"SYSVOL holds what could not be accounted for: {sample(shown, 2)}",
            shown,
        )
    return ok(name, f"SYSVOL as in the baseline: {count} files in {len(folders)} GPO folders")
