"""`restore rehearse --lab` end to end on real lab twins: the report's numbers equal what the
journal says, the JUnit file holds one case per host and step, and a successful rehearsal
makes `restore plan` warn when a playbook changes afterwards."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from restore.cli.app import app
from tests.junit_schema import validate_junit

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.lab, pytest.mark.slow]


SEED = """
- hosts: ns01
  gather_facts: false
  tasks:
    - name: a zone file as it was before the attack
      ansible.builtin.copy: {dest: /srv/data/seeded, content: "zone\\n", mode: "0644"}
"""


def _write_case(tmp: Path) -> tuple[Path, Path]:
    books = tmp / "playbooks"
    # the real playbooks with their roles and vault, so a later edit can be detected
    shutil.copytree(ROOT / "playbooks", books)
    (books / "seed_dns.yml").write_text(SEED)
    graph = {
        "version": 1,
        "name": "Rehearsal test",
        "playbook_dir": "playbooks",
        # what this rehearsal needs, declared with the graph: no --seed, no vault variable
        "rehearsal": {
            "seed": ["seed_dns.yml"],
            "vault_password_file": "playbooks/lab-vault-password.txt",
        },
        "services": [
            {
                "id": "dns",
                "priority": 3,
                "hosts": ["ns01"],
                "rto": "1h",
                "steps": [
                    "evidence",
                    "check",
                    {"ssh": "test -f /srv/data/seeded", "name": "seeded before the attack"},
                    "reconnect",
                ],
            },
            {
                "id": "lis",
                "priority": 1,
                "hosts": ["lis01", "lis02"],
                "depends_on": ["dns"],
                "max_parallel": 2,
                "rto": "2h",
                "steps": [
                    "evidence",
                    "check",
                    "reimage",
                    "check",
                    {"ansible": "rebuild_linux.yml", "timeout": "5m"},
                    {"health": {"tcp": 8443}, "timeout": "1m"},
                    {"approve": "Biology confirms"},
                    "reconnect",
                ],
            },
        ],
    }
    graph_path = tmp / "graph.yaml"
    graph_path.write_text(yaml.safe_dump(graph, sort_keys=False))
    inventory = {
        "all": {
            "children": {
                "linux": {
                    "hosts": {
                        h: {"ansible_host": f"{h}.example.test"} for h in ("ns01", "lis01", "lis02")
                    }
                }
            }
        }
    }
    inventory_path = tmp / "inventory.yml"
    inventory_path.write_text(yaml.safe_dump(inventory))
    return graph_path, inventory_path


def test_rehearsal_report_matches_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the graph's rehearsal.vault_password_file is what opens the playbooks' vault
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    graph, inventory = _write_case(tmp_path)
    state = tmp_path / "state"
    junit = tmp_path / "junit.xml"
    runner = CliRunner()
    try:
        result = runner.invoke(
            app,
            [
                "rehearse",
                str(graph),
                "-i",
                str(inventory),
                "--lab",
                "--junit",
                str(junit),
                "--state-dir",
                str(state),
                "--max-parallel",
                "3",
            ],
        )
    finally:
        runner.invoke(app, ["lab", "down", "--state-dir", str(state)])
    assert result.exit_code == 0, result.stderr[-3000:]
    report_html = Path(result.stdout.strip().splitlines()[-1])
    assert report_html.is_file() and "<svg" in report_html.read_text()

    # the lab is gone: no holder, no registry entry for this state dir
    registry = Path("/run/restore-lab/numbers.json")
    assert str(state.resolve()) not in (registry.read_text() if registry.exists() else "")

    exported = json.loads(
        runner.invoke(
            app, ["journal", "export", "--format", "json", "--state-dir", str(state)]
        ).stdout
    )
    events = exported["events"]
    run_id = events[-1]["run_id"]
    report = json.loads(
        runner.invoke(
            app, ["report", "--run", run_id, "--format", "json", "--state-dir", str(state)]
        ).stdout
    )
    assert report["outcome"] == "succeeded" and report["journal"]["chain_ok"] is True

    # numbers recomputed here from the raw events, independently of restore.reporting.model
    mine = [e for e in events if e["run_id"] == run_id]
    start = min(datetime.fromisoformat(e["ts"]) for e in mine)
    reconnected = {
        e["host"]: (datetime.fromisoformat(e["ts"]) - start).total_seconds()
        for e in mine
        if e["event"] == "state" and e["detail"].get("state") == "reconnected"
    }
    assert set(reconnected) == {"ns01", "lis01", "lis02"}
    services = {s["id"]: s for s in report["services"]}
    assert services["dns"]["restored_s"] == pytest.approx(reconnected["ns01"])
    assert services["lis"]["restored_s"] == pytest.approx(
        max(reconnected["lis01"], reconnected["lis02"])
    )
    assert services["lis"]["met_rto"] is True
    infected = next(e for e in mine if e["event"] == "rehearsal")["detail"]["infected"]
    assert infected == {"lis01": "ransomware"}  # default mix: first rebuildable host
    verdicts = [(v["host"], v["verdict"]) for v in report["verdicts"]]
    assert ("lis01", "compromised") in verdicts and verdicts.count(("lis01", "clean")) == 1
    assert any(x["host"] == "lis01" and x["sha256"] for x in report["evidence"])
    assert any(d["decision"] == "approved" for d in report["decisions"])
    assert len(report["main_courante"]) == len(mine)

    suite = validate_junit(junit.read_text())
    cases = list(suite.iter("testcase"))
    # one outcome case per host, then ns01's four steps and each lis host's eight
    assert len(cases) == 3 + 4 + 8 + 8
    assert suite.get("failures") == "0"

    # a successful rehearsal is remembered; changing a playbook asks for re-verification
    code = runner.invoke(app, ["plan", str(graph), "-i", str(inventory), "--state-dir", str(state)])
    assert "needs re-verification" not in code.stderr
    book = tmp_path / "playbooks" / "rebuild_linux.yml"
    book.write_text(book.read_text() + "\n# edited after the rehearsal\n")
    code = runner.invoke(app, ["plan", str(graph), "-i", str(inventory), "--state-dir", str(state)])
    assert "needs re-verification" in code.stderr and "rebuild_linux.yml" in code.stderr
