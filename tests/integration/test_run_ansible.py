"""The ansible-runner adapter against a real ansible-playbook (local connection)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from restore.ansible.request import PlaybookRequest
from restore.ansible.runner import run_playbook

PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: show the secret the way careless playbooks do
      ansible.builtin.debug: {msg: "db={{ db_password }} winrm={{ ansible_password }}"}
    - name: fail on demand
      ansible.builtin.fail: {msg: boom}
      when: fail_me | default(false) | bool
    - name: take some time
      ansible.builtin.command: sleep {{ sleep_s | default(0) }}
      changed_when: false
"""


@pytest.fixture
def play(tmp_path: Path) -> tuple[Path, str]:
    inventory = tmp_path / "inv.yml"
    inventory.write_text(
        "all:\n  hosts:\n"
        f"    h1: {{ansible_connection: local, ansible_python_interpreter: {sys.executable},"
        ' ansible_password: "Inv-Secret-42"}\n'
        "    h2: {ansible_connection: local}\n"
    )
    playbook = tmp_path / "pb.yml"
    playbook.write_text(PLAYBOOK)
    return playbook, str(inventory)


def test_success_is_decided_from_stats_and_secrets_are_scrubbed(
    tmp_path: Path, play: tuple[Path, str]
) -> None:
    playbook, inventory = play
    seen: list[str] = []
    result = run_playbook(
        PlaybookRequest(
            playbook=playbook,
            inventories=(inventory,),
            host="h1",
            work_dir=tmp_path / "w",
            secret_extravars={"db_password": "Db-Secret-99"},
            secrets=("Inv-Secret-42",),
            progress=seen.append,
        ),
    )
    assert result.ok, result
    assert result.stats["failures"] == 0
    assert "take some time" in seen
    assert not (tmp_path / "w" / "env").exists()
    for path in (tmp_path / "w").rglob("*"):
        if path.is_file():
            text = path.read_bytes()
            assert b"Db-Secret-99" not in text, path
            assert b"Inv-Secret-42" not in text, path


def test_failed_task_is_data(tmp_path: Path, play: tuple[Path, str]) -> None:
    playbook, inventory = play
    result = run_playbook(
        PlaybookRequest(
            playbook=playbook,
            inventories=(inventory,),
            host="h1",
            work_dir=tmp_path / "w",
            extravars={"fail_me": True, "db_password": "x"},
        ),
    )
    assert not result.ok
    assert result.status == "failed"
    assert result.failed_tasks == ("fail on demand",)


def test_limit_matching_nothing_is_not_success(tmp_path: Path, play: tuple[Path, str]) -> None:
    playbook, inventory = play
    result = run_playbook(
        PlaybookRequest(
            playbook=playbook,
            inventories=(inventory,),
            host="absent",
            work_dir=tmp_path / "w",
            extravars={"db_password": "x"},
        ),
    )
    assert not result.ok


def test_timeout_stops_the_playbook(tmp_path: Path, play: tuple[Path, str]) -> None:
    playbook, inventory = play
    result = run_playbook(
        PlaybookRequest(
            playbook=playbook,
            inventories=(inventory,),
            host="h1",
            work_dir=tmp_path / "w",
            extravars={"sleep_s": 60, "db_password": "x"},
            timeout_s=2,
        ),
    )
    assert not result.ok
    assert result.status == "timeout"
    assert result.duration_s < 30
