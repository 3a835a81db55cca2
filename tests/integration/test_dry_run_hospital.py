"""`restore run --dry-run` of the example hospital walks the whole plan and touches no host.

Every host of dependency_graphs/hospital.yaml gets a lab twin (as `restore rehearse --lab`
makes them), quarantined as after an attack. The dry run goes through the real program to its
end; then the twins' files are compared with before: each twin's overlay upper dir (where
every write to its root lands) and its /tmp and /run (tmpfs inside the twin), by content,
mode and modification time, and the lab's network state. Nothing may differ.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from restore.execution.journal import Journal
from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.planning.binding import bind
from restore.rehearsal.twins import start_twins

ROOT = Path(__file__).resolve().parents[2]
GRAPH = ROOT / "dependency_graphs" / "hospital.yaml"
INVENTORY = ROOT / "inventory" / "hospital.yml"
pytestmark = [pytest.mark.lab]
# what a twin's own tmpfs mounts hold, listed from inside it (content hashes for files)
# (but /run/samba: a Samba DC's own messaging and lock files, see SAMBA_CHURN)
INSIDE = (
    "find /tmp /run -xdev -path /run/samba -prune -o -printf '%p %y %m %s %T@\\n' | sort; "
    "find /tmp /run -xdev -path /run/samba -prune -o -type f -exec sha256sum {} + | sort"
)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Path]]:
    state = tmp_path_factory.mktemp("hospital-twins")
    graph, real = load_graph(GRAPH), load_inventory(INVENTORY)
    bound = [h for hosts in bind(graph, real).values() for h in hosts]
    try:
        # the rehearsal's own twins: dc01 and dc02 real Samba AD DCs of one domain
        yield start_twins(state, bound, real, lambda _said: None)
    finally:
        Lab(state).down()


# A Samba DC rewrites its own databases, logs and caches all the time (and a replica pulls
# from its primary every 2 s): those are judged by the directory's content below (krbtgt's key
# version), not by their bytes.
SAMBA_CHURN = ("var/lib/samba/private", "var/log/samba", "var/cache/samba", "run/samba",
               "var/lib/samba/wins.ldb", "var/lib/samba/gencache.tdb")  # fmt: skip


def _tree(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if str(path.relative_to(root)).startswith(SAMBA_CHURN):
            continue
        info = path.lstat()
        digest.update(
            f"{path.relative_to(root)}\0{info.st_mode}\0{info.st_size}\0{info.st_mtime_ns}\n".encode()
        )
        if path.is_file() and not path.is_symlink():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _fingerprint(lab: Lab, name: str) -> tuple[str, str]:
    return (
        _tree(lab.dir / "hosts" / name / "rw" / "upper"),
        hashlib.sha256(lab.run_on(name, INSIDE).encode()).hexdigest(),
    )


def _fingerprints(lab: Lab) -> dict[str, tuple[str, str]]:
    lab = Lab(lab.state_dir)
    return {name: _fingerprint(lab, name) for name in sorted(lab.hosts)}


def _key_versions(inventory: Path) -> dict[str, int]:
    """krbtgt's key version as each lab DC says it (a dry run must rotate nothing)."""
    from restore.directory.checks import read_directory
    from restore.directory.krbtgt import krbtgt_entry, state_of

    specs = load_inventory(inventory, with_secrets=True)
    found = {}
    for name in ("dc01", "dc02"):
        entry = krbtgt_entry(read_directory(specs.host(name)))
        assert entry is not None
        found[name] = state_of(entry).key_version
    return found


def test_dry_run_of_the_example_hospital_reaches_its_end_and_touches_no_host(
    tmp_path: Path, twins: tuple[Lab, Path]
) -> None:
    lab, inventory = twins
    before = _fingerprints(lab)
    network = Lab(lab.state_dir).status()
    key_versions = _key_versions(inventory)
    state = tmp_path / "state"
    options = ["--dry-run", "--max-parallel", "8", "--format", "json", "--state-dir", str(state)]
    done = subprocess.run(
        [sys.executable, "-m", "restore", "run", str(GRAPH), "-i", str(inventory), *options],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "succeeded" and result["dry_run"] is True
    assert len(result["hosts"]) == 27
    assert {h["state"] for h in result["hosts"]} == {"reconnected"}
    # the summary names the gates a real run would stop at
    gates = {(g["host"], g["gate"].split(":")[0]) for g in result["gates"]}
    assert {("dc01", "approval"), ("lis02", "approval")} <= gates
    assert ("pg01", "reimage needs evidence collected in this run (or waived by an operator)") in {
        (g["host"], g["gate"]) for g in result["gates"]
    }
    assert sum(1 for g in result["gates"] if g["gate"].startswith("reconnect needs")) == 27

    journal = Journal(state)
    try:
        events = journal.events()
    finally:
        journal.close()
    assert not [e for e in events if e.event == "approved"]  # nobody approved anything
    ends = [e for e in events if e.event in {"succeeded", "failed", "refused", "timed_out"}]
    assert ends and all(e.event == "succeeded" and e.detail.get("dry_run") for e in ends)
    evidence = next(e for e in ends if e.host == "lis01" and e.step == "1:evidence")
    assert "would examine lis01 over SSH" in evidence.detail["message"]
    dc_check = next(e for e in ends if e.host == "dc01" and e.step == "2:check")
    assert "and its directory (dir-* checks)" in dc_check.detail["message"]
    rotation = next(e for e in ends if e.host == "dc01" and "rotate_krbtgt" in (e.step or ""))
    assert "would reset krbtgt's password twice on dc01" in rotation.detail["message"]

    # nothing on any twin changed: files, modes, times, the directory, and the network cut
    assert _fingerprints(lab) == before
    assert _key_versions(inventory) == key_versions
    assert Lab(lab.state_dir).status() == network
    # and the fingerprints would have seen a change: in a twin's root, or in its /tmp
    lab = Lab(lab.state_dir)
    lab.run_on("pg01", "touch /var/lib/touched")
    assert _fingerprint(lab, "pg01")[0] != before["pg01"][0]
    lab.run_on("ns01", "touch /tmp/touched")
    assert _fingerprint(lab, "ns01")[1] != before["ns01"][1]
