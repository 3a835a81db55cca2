#!/usr/bin/env python3
"""Choose the snapshot to restore from `restore backups scan --format json` (on stdin).

argv: incident start (ISO 8601 with zone, or ""), pinned snapshot id or "", pinned by, reason.
Without a pin: the scan's last clean snapshot, if taken before the incident started, else
the newest clean snapshot before it that precedes every non-clean one. With a pin: that
snapshot; a pin the scan did not call clean, or taken after the incident, needs a name and a
reason. Prints the choice, the scan that justified it and the snapshots rejected, as JSON;
when it must refuse (the restore of this host is then blocked), prints the same with "id"
null and "blocked" the reason, and exits 1: the role journals both before it stops.
"""

import datetime
import json
import re
import sys


def when(text):
    # restic writes nanoseconds; Python reads at most microseconds
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text)


def refuse(reason, scan=None, rejected=()):
    print(json.dumps({"id": None, "time": None, "verdict": None, "blocked": reason,
                      "pinned_by": "", "reason": "", "scan": scan, "rejected": list(rejected)}))
    sys.exit(1)


def main():
    incident = when(sys.argv[1]) if sys.argv[1] else None
    pinned, pinned_by, reason = (sys.argv[2:5] + ["", "", ""])[:3]
    report = json.load(sys.stdin)
    host = report["hosts"][0]
    if host.get("error"):
        refuse(f"the backup scan of {host['host']} failed: {host['error']}")
    snapshots = host["snapshots"]
    rejected = [
        {"id": s["id"], "time": s["time"], "verdict": s["verdict"],
         "findings": [f"{f['check']}: {f['path']}" for f in s["findings"]][:5]}
        for s in snapshots
        if s["verdict"] != "clean"
    ]
    scan = {"repository": host["repository"], "scanned": len(snapshots),
            "last_clean": host["last_clean"]}
    if pinned:
        found = [s for s in snapshots if s["id"].startswith(pinned) or s.get("short_id") == pinned]
        if not found:
            refuse(f"no snapshot {pinned} in {host['repository']}", scan, rejected)
        chosen = found[0]
        after = incident is not None and when(chosen["time"]) >= incident
        if (chosen["verdict"] != "clean" or after) and not (pinned_by and reason):
            refuse(
                f"snapshot {pinned} is {chosen['verdict']}"
                + (" and was taken after the incident started" if after else "")
                + ": pinning it needs restore_data_pin_by and restore_data_pin_reason",
                scan, rejected,
            )
        print(json.dumps({"id": chosen["id"], "time": chosen["time"], "verdict": chosen["verdict"],
                          "pinned_by": pinned_by, "reason": reason, "scan": scan,
                          "rejected": rejected}))
        return
    candidates = []
    for s in snapshots:
        if s["verdict"] != "clean":
            break  # nothing after the first alarm is offered (dwell time)
        if incident is None or when(s["time"]) < incident:
            candidates.append(s)
    if not candidates:
        refuse(
            f"no clean snapshot of {host['host']} before the incident in {host['repository']} "
            f"({len(rejected)} of {len(snapshots)} rejected by the scan): restore blocked; "
            "after review, pin one with restore_data_snapshot, restore_data_pin_by and "
            "restore_data_pin_reason",
            scan, rejected,
        )
    chosen = candidates[-1]
    print(json.dumps({"id": chosen["id"], "time": chosen["time"], "verdict": "clean",
                      "pinned_by": "", "reason": "last clean snapshot before the incident",
                      "scan": scan, "rejected": rejected}))


main()
