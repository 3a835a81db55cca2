"""Which backup snapshot each data restore chose after the backup scan, and which it rejected.

The restore_data role (with ``restore_data_scan``) records its choice with
``ansible.builtin.set_stats``; the playbook step journals that under
``detail.ansible.custom_stats.restore_data_choice`` of its succeeded or failed event. Read
here from the one fold of the journal (each step attempt keeps its ending row's detail), like
every other number of the report; kept apart from restore.reporting.model so that the report's
model does not have to know about backups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from restore.execution.run_fold import RUNNING, RunView
from restore.reporting import markdown_text as md

_SHOWN_REJECTED = 12  # per host in the Markdown/HTML table; the JSON keeps them all


def restore_points(view: RunView) -> tuple[dict[str, Any], ...]:
    """One entry per journaled choice, in the order the steps ended."""
    ended = sorted(
        (step for host in view.hosts.values() for step in host.steps if step.status != RUNNING),
        key=lambda step: step.ended_seq,
    )
    found = []
    for attempt in ended:
        detail = attempt.detail
        ansible = detail.get("ansible") if isinstance(detail, Mapping) else None
        stats = ansible.get("custom_stats") if isinstance(ansible, Mapping) else None
        choice = stats.get("restore_data_choice") if isinstance(stats, Mapping) else None
        if not isinstance(choice, Mapping):
            continue
        scan_value, rejected_value = choice.get("scan"), choice.get("rejected")
        scan: Mapping[str, Any] = scan_value if isinstance(scan_value, Mapping) else {}
        rejected: list[Any] = rejected_value if isinstance(rejected_value, list) else []
        found.append(
            {
                "ts": attempt.ended_at.isoformat() if attempt.ended_at else "",
                "host": attempt.host or str(choice.get("host") or ""),
                "step": attempt.step,
                "chosen": (
                    {
                        "id": str(choice["id"]),
                        "time": str(choice.get("time", "")),
                        "verdict": str(choice.get("verdict", "")),
                    }
                    if choice.get("id")
                    else None
                ),
                "blocked": str(choice.get("blocked") or ""),
                "pinned_by": str(choice.get("pinned_by") or ""),
                "reason": str(choice.get("reason") or ""),
                "repository": str(scan.get("repository", "")),
                "scanned": scan.get("scanned"),
                "rejected": [
                    {
                        "id": str(r.get("id", "")),
                        "time": str(r.get("time", "")),
                        "verdict": str(r.get("verdict", "")),
                        "findings": [str(f) for f in r.get("findings") or []],
                    }
                    for r in rejected
                    if isinstance(r, Mapping)
                ],
            }
        )
    return tuple(found)


def chosen_text(point: Mapping[str, Any]) -> str:
    chosen = point["chosen"]
    if chosen is None:
        return f"none: {point['blocked']}"
    pin = f", pinned by {point['pinned_by']}" if point["pinned_by"] else ""
    return f"{chosen['id'][:8]} ({chosen['time']}, {chosen['verdict']}{pin}): {point['reason']}"


def rejected_lines(point: Mapping[str, Any]) -> list[str]:
    lines = [
        f"{r['id'][:8]} ({r['time']}) {r['verdict']}: " + ("; ".join(r["findings"]) or "—")
        for r in point["rejected"][:_SHOWN_REJECTED]
    ]
    if len(point["rejected"]) > _SHOWN_REJECTED:
        lines.append(f"and {len(point['rejected']) - _SHOWN_REJECTED} more")
    return lines


def markdown(points: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's section (nothing when no restore went through the scan)."""
    if not points:
        return []
    t = md.text
    out = ["", "## Restore points (backup scan)", ""]
    for point in points:
        scanned = point["scanned"] if point["scanned"] is not None else "?"
        out.append(
            f"- {t(point['ts'])} **{t(point['host'])}** ({t(point['repository'])}, "
            f"{t(scanned)} snapshots scanned): restored {t(chosen_text(point))}"
        )
        out += [f"  - rejected {t(line)}" for line in rejected_lines(point)]
    return out
