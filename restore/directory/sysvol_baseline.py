"""SYSVOL in a DC's baseline: every GPO folder's files by path, size and sha256. Pure.

Why hashes and not write times: SMB lets whoever writes a file set its times too, so an
attacker holding the domain can drop a scheduled task into a GPO folder and date it a year
back; a check that looks for files written after the incident (`dir-sysvol` without a
baseline, and the DC host's own `changed_since_incident`, which reads mtimes) then sees
nothing. A file added, changed or removed since the known-good capture is found whatever
its times say.

The record keeps what the bounded read saw (`sysvol.py`: entries, levels, bytes, deadline):
a link with its target (never followed), a special file as `other`, a file read up to the
cap as `truncated` (its hash covers the part read only), and the folder's problems (a part
the bounds cut). A folder cut at capture or now cannot prove that nothing changed in it:
said so, never `clean`. Paths are kept as the server sent them (JSON escapes them) and shown
escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from restore.directory.gpo_files import raw
from restore.directory.sysvol import GpoFolder, SysvolFile

FORMAT = 1
# the folders of a GPO (Machine/, User/) whose content runs on, or configures, every
# computer the GPO applies to: what LockBit-style spreading and defence tampering write
SCRIPT_FOLDERS = ("machine/scripts/", "user/scripts/")


def record(folders: Mapping[str, GpoFolder]) -> dict[str, Any]:
    """The baseline's `sysvol` section (JSON), GPO GUID in upper case -> its files."""
    return {
        "format": FORMAT,
        "folders": {
            guid.upper(): {
                "files": {f.path: _file_record(f) for f in folder.files},
                "problems": list(folder.problems),
                "missing": folder.missing,
            }
            for guid, folder in sorted(folders.items())
        },
    }


def recorded_missing(record: Any) -> frozenset[str]:
    """The GPOs that had no folder at capture (Samba does not replicate SYSVOL: a replica
    nobody copied it to has none); empty for a record this code cannot read (`compare` says
    why)."""
    folders = record.get("folders") if isinstance(record, dict) else None
    if not isinstance(folders, dict):
        return frozenset()
    return frozenset(g for g, f in folders.items() if isinstance(f, dict) and f.get("missing"))


def cut_by_bounds(folders: Mapping[str, GpoFolder]) -> list[tuple[str, str]]:
    """(GUID, why) for every folder the bounded read did not read whole: a part not listed,
    a file read up to the cap only."""
    cut: list[tuple[str, str]] = []
    for guid, folder in sorted(folders.items()):
        cut += [(guid, raw(p)) for p in folder.problems]
        cut += [
            (guid, f"{raw(f.path, 200)}: {f.size} bytes, read up to the cap only")
            for f in folder.files
            if f.truncated
        ]
    return cut


def _file_record(f: SysvolFile) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "size": f.size,
        "sha256": f.sha256,
        "target": f.target,
        "truncated": f.truncated,
    }


def deploy_kind(path: str) -> str | None:
    """What a file of a GPO folder is, when it makes computers run or change something."""
    lower = path.replace("\\", "/").lower()
    name = lower.rsplit("/", 1)[-1]
    if name == "scheduledtasks.xml":
        return "scheduled task"
    if name in ("scripts.ini", "psscripts.ini") or lower.startswith(SCRIPT_FOLDERS):
        return "script"
    if name == "registry.xml":
        return "registry preference"
    if name == "registry.pol":
        return "registry policy"
    return None


@dataclass(frozen=True)
class Comparison:
    """The differences from the baseline: `changes` (one line each), `strong` when one of
    them is a task, script or registry setting, `cut` (folders that cannot be compared)."""

    changes: tuple[str, ...] = ()
    strong: bool = False
    cut: tuple[str, ...] = ()


def compare(
    folders: Mapping[str, GpoFolder],
    base: Mapping[str, Any],
    labels: Mapping[str, str],
    listed: frozenset[str],
) -> Comparison:
    """`folders` as read now (by upper-case GUID), `base` the baseline's `sysvol` section,
    `labels` the GPO names to show, `listed` the GUIDs the directory lists now.
    ValueError for a section this code cannot read (the caller says so, never `clean`)."""
    if base.get("format") != FORMAT or not isinstance(base.get("folders"), dict):
        raise ValueError(f"SYSVOL baseline of an unknown format {raw(str(base.get('format')))}")
    known: Mapping[str, Any] = base["folders"]
    changes: list[str] = []
    cut: list[str] = []
    strong = False
    for guid in sorted(set(folders) | set(known)):
        where = labels.get(guid) or raw(guid, 60)
        was = known.get(guid)
        now = folders.get(guid)
        if now is None:
            if guid in listed:
                continue  # listed but not read (beyond the GPO cap): a problem said elsewhere
            count = len((was or {}).get("files", {}))
            changes.append(f"{where}: GPO of the baseline gone from the directory ({count} files)")
            continue
        was_cut = bool(was and was.get("problems"))
        if was_cut:
            cut.append(f"{where}: the baseline's read of this folder was cut by the bounds")
        if now.problems:
            cut.append(f"{where}: this read of the folder was cut by the bounds")
        before: Mapping[str, Any] = (was or {}).get("files", {})
        for f in now.files:
            path = f"{where}: {raw(f.path, 200)}"
            kind = deploy_kind(f.path)
            old = before.get(f.path)
            if old is None:
                what = "added" + ("" if was is not None else " (a GPO new since the baseline)")
            elif _differs(old, f):
                was_hash = raw(str(old.get("sha256", "")), 64)[:16]
                what = f"changed (sha256 {was_hash} -> {f.sha256[:16]})"
            else:
                continue
            changes.append(f"{path} {what}{_kind_label(kind)}")
            strong = strong or (kind is not None and not (old is None and was_cut))
        if now.problems:
            continue  # what the cut read did not reach is not "removed"
        present = {f.path for f in now.files}
        for gone in sorted(set(before) - present):
            kind = deploy_kind(gone)
            changes.append(f"{where}: {raw(gone, 200)} removed{_kind_label(kind)}")
            strong = strong or kind is not None
    return Comparison(tuple(changes), strong, tuple(cut))


def _differs(old: Mapping[str, Any], f: SysvolFile) -> bool:
    return (old.get("kind"), old.get("size"), old.get("sha256"), old.get("target")) != (
        f.kind,
        f.size,
        f.sha256,
        f.target,
    )


def _kind_label(kind: str | None) -> str:
    return f" [{kind}]" if kind else ""
