#!/usr/bin/python3
"""Choose the restic snapshot to restore: the last one taken before the incident started.

stdin: `restic snapshots --json`; argv: incident start (ISO 8601 with zone), explicit
snapshot id or "", "allow" to accept a snapshot taken after the incident. Prints the chosen
snapshot as JSON; exits 1 with the reason when it must refuse.
"""
import datetime
import json
import re
import sys


def when(text):
    # restic writes nanoseconds; Python reads at most microseconds
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text)


incident = when(sys.argv[1])
explicit = sys.argv[2] if len(sys.argv) > 2 else ""
allow_after = len(sys.argv) > 3 and sys.argv[3] == "allow"
snapshots = sorted(json.load(sys.stdin) or [], key=lambda s: when(s["time"]))
if explicit:
    chosen = [s for s in snapshots if s["id"].startswith(explicit) or s.get("short_id") == explicit]
    if not chosen:
        sys.exit(f"no snapshot {explicit} in the repository")
    snapshot = chosen[0]
    if when(snapshot["time"]) >= incident and not allow_after:
        sys.exit(
            f"snapshot {explicit} was taken at {snapshot['time']}, after the incident started "
            f"({sys.argv[1]}): it may hold the attacker's changes; set "
            "restore_data_allow_after_incident=true to override"
        )
else:
    before = [s for s in snapshots if when(s["time"]) < incident]
    if not before:
        sys.exit(f"no snapshot taken before the incident started ({sys.argv[1]})")
    snapshot = before[-1]
print(json.dumps({"id": snapshot["id"], "time": snapshot["time"], "paths": snapshot["paths"]}))
