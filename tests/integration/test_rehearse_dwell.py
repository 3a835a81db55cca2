"""`restore rehearse --scenario dwell` on real lab twins: the attacker is already in the last
backup before the incident, and the example's PostgreSQL restore, which scans the backups
first, restores the older clean one; the report says which was rejected and why."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from restore.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _write_case(tmp: Path) -> tuple[Path, Path]:
    shutil.copytree(ROOT / "playbooks", tmp / "playbooks")
    graph = {
        "version": 1,
        "name": "Dwell rehearsal",
        "playbook_dir": "playbooks",
        "rehearsal": {
            "seed": ["lab_seed_backup.yml"],
            "vault_password_file": "playbooks/lab-vault-password.txt",
        },
        "services": [
            {"id": "backup", "priority": 1, "hosts": ["backup01"], "steps": ["check", "reconnect"]},
            {
                "id": "db-pg",
                "priority": 2,
                "hosts": ["pg01"],
                "depends_on": ["backup"],
                "steps": [
                    "check",
                    {
                        "ansible": "postgresql_restore.yml",
                        "vars": {"postgresql_restore_scan": True},
                        "timeout": "10m",
                    },
                    {"health": {"tcp": 5432}, "timeout": "2m"},
                    "reconnect",
                ],
            },
        ],
    }
    graph_path = tmp / "graph.yaml"
    graph_path.write_text(yaml.safe_dump(graph, sort_keys=False))
    hosts = {h: {"ansible_host": f"{h}.example.test"} for h in ("backup01", "pg01")}
    inventory_path = tmp / "inventory.yml"
    inventory_path.write_text(yaml.safe_dump({"all": {"children": {"linux": {"hosts": hosts}}}}))
    return graph_path, inventory_path


def test_dwell_rehearsal_restores_the_backup_before_the_attackers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    graph, inventory = _write_case(tmp_path)
    state = tmp_path / "state"
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
                "--scenario",
                "dwell",
                "--state-dir",
                str(state),
            ],
        )
    finally:
        runner.invoke(app, ["lab", "down", "--state-dir", str(state)])
    assert result.exit_code == 0, result.stderr[-3000:]
    report = json.loads(
        runner.invoke(app, ["report", "--format", "json", "--state-dir", str(state)]).stdout
    )
    (point,) = report["restore_points"]
    assert point["host"] == "pg01" and point["scanned"] == 3
    incident = datetime.fromisoformat(report["incident_at"])
    chosen = datetime.fromisoformat(point["chosen"]["time"].replace("Z", "+00:00"))
    # the newest backup before the incident held the staging: the one before it is restored
    rejected = {r["time"]: r for r in point["rejected"]}
    before = [
        r
        for t, r in rejected.items()
        if datetime.fromisoformat(t.replace("Z", "+00:00")) < incident
    ]
    assert len(before) == 1 and before[0]["verdict"] == "compromised"
    assert any(f.startswith("ransom_note: ") for f in before[0]["findings"])
    assert chosen < datetime.fromisoformat(before[0]["time"].replace("Z", "+00:00"))
    assert point["chosen"]["verdict"] == "clean"
