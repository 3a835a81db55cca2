"""A domain controller's directory findings, for `restore check` and the `check` step.

Runs from the control node over LDAPS with the inventory's read account; one read of the
directory, then the pure checks of `analysis`. A DC that cannot be read gives an `error`
finding (the host is then `suspect`, never `clean`). The entries read are kept as evidence:
copied into the state dir's evidence folder (owner-read-only) and hashed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from restore.directory import analysis, sysvol_baseline
from restore.directory.connection import (
    DirectoryError,
    LdapTarget,
    bind_credentials,
    connect,
)
from restore.directory.fetch import fetch_snapshot, fetch_value_metadata
from restore.directory.gpo_analysis import gpo_label
from restore.directory.gpo_files import raw
from restore.directory.model import RunProof, Snapshot
from restore.directory.privileged import privileged_groups
from restore.directory.sysvol import GpoFolder, read_gpo_folders
from restore.integrity.checks.catalog import error, ok
from restore.models import Finding, HostSpec


def read_directory(host: HostSpec, insecure: bool = False, timeout_s: float = 60.0) -> Snapshot:
    target = LdapTarget.for_host(host, insecure)
    user, password = bind_credentials(host)
    conn = connect(target, user, password, timeout_s)
    try:
        snapshot = fetch_snapshot(conn)
        groups = {g.dn for found in privileged_groups(snapshot).values() for g in found}
        return replace(snapshot, value_meta=fetch_value_metadata(conn, sorted(groups)))
    finally:
        conn.unbind()


def directory_findings(
    host: HostSpec,
    since: datetime | None,
    baseline: dict[str, Any] | None,
    *,
    insecure: bool = False,
    evidence_root: Path | None = None,
    run: RunProof | None = None,
) -> list[Finding]:
    try:
        snapshot = read_directory(host, insecure)
    except DirectoryError as exc:
        return [error("dir-read", str(exc))]
    folders, problem = read_sysvol(host, snapshot)
    findings = analysis.evaluate(snapshot, since, baseline, folders, problem, run=run)
    if evidence_root is not None:
        findings.append(keep_evidence(evidence_root, host.name, snapshot, folders))
    return findings


def read_sysvol(
    host: HostSpec, snapshot: Snapshot
) -> tuple[dict[str, GpoFolder] | None, str | None]:
    """The folders of the GPOs LDAP listed, by upper-case GUID; or None and why not."""
    guids = [g.first("name") for g in snapshot.gpos]
    try:
        folders = read_gpo_folders(host, snapshot.base_dn, guids)
    except DirectoryError as exc:
        return None, str(exc)
    return {f.guid.upper(): f for f in folders}, None


def capture_facts(host: HostSpec, insecure: bool = False) -> dict[str, Any]:
    """The directory part of a DC's baseline manifest, with every GPO folder's files in
    SYSVOL (raises DirectoryError). A read that the bounds cut is refused, as a host's facts
    over the cap are: a baseline must never bless what was not read."""
    snapshot = read_directory(host, insecure)
    folders, problem = read_sysvol(host, snapshot)
    if folders is None:
        raise DirectoryError(f"SYSVOL not read: {problem}")
    cut = sysvol_baseline.cut_by_bounds(folders)
    if cut:
        labels = {g.first("name").upper(): gpo_label(g) for g in snapshot.gpos}
        shown = [f"{labels.get(guid, raw(guid, 60))}: {why}" for guid, why in cut]
        raise DirectoryError(f"SYSVOL read cut by its bounds, not captured: {'; '.join(shown[:3])}")
    return analysis.baseline_facts(snapshot) | {"sysvol": sysvol_baseline.record(folders)}


def keep_evidence(
    root: Path, host: str, snapshot: Snapshot, folders: dict[str, GpoFolder] | None = None
) -> Finding:
    """The entries and SYSVOL files as read, written once (0400) with their sha256, for
    investigators (file contents base64, at most what the bounded read kept)."""
    folder = root / "".join(c if c.isalnum() or c in "-_." else "_" for c in host)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = snapshot.read_at.strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"directory-{stamp}.json"
    data = json.dumps(
        {
            "base_dn": snapshot.base_dn,
            "domain_sid": snapshot.domain_sid,
            "read_at": snapshot.read_at.isoformat(),
            "truncated": snapshot.truncated,
            "entries": [
                {"dn": e.dn, "attrs": {k: list(v) for k, v in e.attrs.items()}}
                for e in snapshot.entries
            ],
            "gpos": [asdict(g) | {"attrs": dict(g.attrs)} for g in snapshot.gpos],
            "sysvol": [
                {
                    "guid": folder.guid,
                    "problems": list(folder.problems),
                    "missing": folder.missing,
                    "files": [
                        {
                            "path": f.path,
                            "kind": f.kind,
                            "size": f.size,
                            "modified": f.modified.isoformat() if f.modified else None,
                            "sha256": f.sha256,
                            "truncated": f.truncated,
                            "target": f.target,
                            "deployed": list(f.deployed.items),
                            "base64": base64.b64encode(f.data).decode(),
                        }
                        for f in folder.files
                    ],
                }
                for folder in (folders or {}).values()
            ],
        },
        sort_keys=True,
    ).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    digest = hashlib.sha256(data).hexdigest()
    return ok("dir-evidence", f"directory entries kept: {path} sha256:{digest}")
