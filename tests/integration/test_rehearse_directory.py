"""`restore rehearse --lab` of the example hospital's directory: a forest recovery on two real
Samba AD DCs of one lab domain, with a hidden mix of directory attacks on the first.

The graph is the hospital's own two directory services (dc01 restored from its backup and
krbtgt rotated on it, dc02 promoted again from it). Whatever attacks the rehearsal chose,
each must show in dc01's first check (and, replicated, in dc02's), and both DCs must end
clean and reconnected: caught and fixed. The mix is only named after the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.lab, pytest.mark.slow]
HIDDEN = "the hidden directory attacks on dc01 were: "


def restore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "restore", *args], capture_output=True, text=True, timeout=900
    )


def directory_graph(tmp: Path) -> Path:
    hospital = yaml.safe_load((ROOT / "dependency_graphs" / "hospital.yaml").read_text())
    services = [s for s in hospital["services"] if s["id"] in ("directory", "directory-replicas")]
    for service in services:
        service["depends_on"] = [d for d in service.get("depends_on", []) if d == "directory"]
    graph = {
        "version": 1,
        "name": "CHU Example directory",
        "playbook_dir": str(ROOT / "playbooks"),
        "network": hospital["network"],
        "services": services,
    }
    path = tmp / "directory.yaml"
    path.write_text(yaml.safe_dump(graph, sort_keys=False))
    return path


def checks_of(events: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    return [
        e["detail"]
        for e in events
        if e["host"] == host and e["event"] == "succeeded" and "verdict" in e["detail"]
    ]


def findings(check: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in check["findings"]}


# what each hidden attack leaves, as the checks name it (restore.lab.dc_scenarios)
def caught(attack: str, found: dict[str, dict[str, Any]]) -> bool:
    created = found.get("dir-accounts-created", {}).get("evidence", [])
    if attack == "privileged-account":
        return "svc-sync" in created
    if attack == "new-user":
        return "helpdesk.temp" in created
    if attack == "spn-user":
        spns = found.get("dir-spns", {}).get("evidence", [])
        return any(s.startswith("alice.martin: MSSQLSvc/") for s in spns)
    assert attack == "gpo-changed", attack
    gpo = found.get("dir-gpo-changed", {})
    return gpo.get("status") == "fail" and "immediate task" in gpo.get("detail", "")


def test_the_hospitals_directory_is_caught_and_fixed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = restore(
        "rehearse", str(directory_graph(tmp_path)), "-i", str(ROOT / "inventory" / "hospital.yml"),
        "--lab", "--state-dir", str(state),
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    # told before the run: that there are hidden attacks, not which
    (infecting,) = [line for line in said.splitlines() if "lab: infecting dc01" in line]
    assert "hidden directory attack(s)" in infecting
    (revealed,) = [line for line in said.splitlines() if HIDDEN in line]
    attacks = revealed.split(HIDDEN, 1)[1].split(", ")
    assert 2 <= len(attacks) <= 4
    assert not any(a in infecting for a in attacks)

    exported = restore("journal", "export", "--state-dir", str(state), "--format", "json")
    events = json.loads(exported.stdout)["events"]
    (rehearsal,) = [e for e in events if e["event"] == "rehearsal"]
    assert rehearsal["detail"]["infected"]["dc01"] == "+".join(["ransomware", *attacks])
    first, last = checks_of(events, "dc01")
    assert first["verdict"] == "compromised" and last["verdict"] == "clean"
    for attack in attacks:
        assert caught(attack, findings(first)), (attack, findings(first))
    # the attacks replicated to dc02: compromised too, then promoted again and clean
    replica_first, replica_last = checks_of(events, "dc02")
    assert replica_first["verdict"] == "compromised"
    accounts = [a for a in attacks if a in ("privileged-account", "new-user")]
    for attack in accounts:
        assert caught(attack, findings(replica_first)), attack
    assert replica_last["verdict"] == "clean", findings(replica_last)
    rotation = next(e["detail"] for e in events if e["detail"].get("action") == "rotate_krbtgt")
    assert rotation["key_version_after"] == rotation["key_version_before"] + 2
    assert [r["host"] for r in rotation["not_replicas"]] == ["dc02"]
    states = {e["host"]: e["detail"]["state"] for e in events if e["event"] == "state"}
    assert states == {"dc01": "reconnected", "dc02": "reconnected"}
