"""Findings: vault secrets leaked and were not used.

A value from an ansible-vault-encrypted inventory variable used in a task name appeared in
clear on the console, in the journal, in report.html and in ansible-runner's artifacts; the
inventory loader dropped vaulted values it could not stringify, so the tool's own WinRM
transport said "auth method basic requires a password" with the right vault password and the
same with a wrong one; ansible-runner's `command` artifact held the operator's whole
environment (a VAULT_TOKEN was there).

Here, on real lab hosts: the Windows host's `ansible_password` and a variable used in a task
name are encrypted with the real `ansible-vault encrypt_string`; the operator's environment
holds a VAULT_TOKEN. After a real `restore run` and every report format, none of the three
values is anywhere under the state dir (bytes, recursively) nor on the console, and the WinRM
check authenticated with the decrypted password. A wrong password is exit 2 naming the host
and the variable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore.lab import Lab
from restore.models import Platform

TASK_SECRET = "tAsK-n4me-s3cret-8b1f"
PLAIN_TOKEN = "pl4in-api-t0ken-c3d4"  # not vaulted, but its variable's name says secret
FILE_SECRET = "wh0le-file-vault-e5f6"  # from a vars file encrypted as a whole
VAULT_TOKEN = "hvs.OPERATOR-TOKEN-5d2c9e"
VAULT_PASSWORD = "correct horse battery staple"
VAULT_BIN = Path(sys.executable).parent / "ansible-vault"


def _encrypt(name: str, value: str, password_file: Path) -> str:
    done = subprocess.run(
        [
            str(VAULT_BIN),
            "encrypt_string",
            "--vault-password-file",
            str(password_file),
            "--name",
            name,
            value,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def _find_hosts(node: Any, found: dict[str, dict[str, Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "hosts" and isinstance(value, dict):
                for name, host_vars in value.items():
                    if isinstance(host_vars, dict):
                        found[name] = host_vars
            else:
                _find_hosts(value, found)


@pytest.fixture(scope="module")
def vaulted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("vault")
    lab_state = root / "lab"
    lab = Lab(lab_state)
    try:
        lab_inventory = lab.up([("vlin", Platform.LINUX), ("vwin", Platform.WINDOWS)])
        data = yaml.safe_load(lab_inventory.read_text())
        hosts: dict[str, dict[str, Any]] = {}
        _find_hosts(data, hosts)
        winrm_password = str(hosts["vwin"].pop("ansible_password"))
        project = root / "project"
        (project / "host_vars").mkdir(parents=True)
        inventory = project / "hosts.yml"
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        password_file = root / "vault-pass"
        password_file.write_text(VAULT_PASSWORD + "\n")
        wrong_file = root / "wrong-pass"
        wrong_file.write_text("not the password\n")
        (project / "host_vars" / "vwin.yml").write_text(
            _encrypt("ansible_password", winrm_password, password_file)
        )
        (project / "host_vars" / "vlin.yml").write_text(
            _encrypt("lis_release_note", TASK_SECRET, password_file)
            + f"lis_api_token: {PLAIN_TOKEN}\n"
        )
        (project / "group_vars").mkdir()
        site_vars = project / "group_vars" / "lab_linux.yml"
        site_vars.write_text(f"lis_site_code: {FILE_SECRET}\n")
        subprocess.run(
            [
                str(VAULT_BIN),
                "encrypt",
                "--vault-password-file",
                str(password_file),
                str(site_vars),
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )
        (project / "show.yml").write_text(
            "- hosts: all\n  gather_facts: false\n  tasks:\n"
            "    - name: 'rebuild with {{ lis_release_note }}'\n"
            "      ansible.builtin.debug:\n        msg: 'note {{ lis_release_note }}'\n"
            "    - name: 'call with {{ lis_api_token }} at {{ lis_site_code }}'\n"
            "      ansible.builtin.debug:\n"
            "        msg: '{{ lis_api_token }} {{ lis_site_code }}'\n"
        )
        (project / "graph.yaml").write_text(
            "version: 1\nname: vault\nservices:\n"
            "  - id: web\n    priority: 1\n    hosts: [vlin]\n"
            "    steps: [{ansible: show.yml}]\n"
            "  - id: dc\n    priority: 2\n    hosts: [vwin]\n    steps: [check]\n"
        )
        yield {
            "root": root,
            "project": project,
            "inventory": inventory,
            "password_file": password_file,
            "wrong_file": wrong_file,
            "winrm_password": winrm_password,
            "state": root / "state",
        }
    finally:
        Lab(lab_state).down()


def _restore(
    setup: dict[str, Any], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"},
        "VAULT_TOKEN": VAULT_TOKEN,
        "XDG_CACHE_HOME": str(setup["root"] / "xdg"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "restore", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=setup["project"],
        env=environment,
        timeout=600,
    )


def _leaks(folder: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s}" for s in secrets if s.encode() in data]
    return found


def test_vaulted_values_are_used_and_never_written(vaulted: dict[str, Any]) -> None:
    state, inventory = vaulted["state"], str(vaulted["inventory"])
    secrets = [TASK_SECRET, VAULT_TOKEN, PLAIN_TOKEN, FILE_SECRET, vaulted["winrm_password"]]
    # The password from the environment, as plain `ansible` takes it...
    run = _restore(
        vaulted,
        *["run", "graph.yaml", "-i", inventory, "--yes", "--state-dir", str(state)],
        env={"ANSIBLE_VAULT_PASSWORD_FILE": str(vaulted["password_file"])},
    )
    console = run.stdout + run.stderr
    assert run.returncode == 0, console
    # ... or from the option: the Windows check authenticates with the decrypted password.
    check = _restore(
        vaulted,
        *["check", "-i", inventory, "vwin", "--format", "json", "--state-dir", str(state)],
        *["--vault-password-file", str(vaulted["password_file"])],
    )
    assert check.returncode == 0, check.stderr
    (host,) = json.loads(check.stdout)["hosts"]
    assert host["verdict"] == "clean", host
    console += check.stdout + check.stderr
    reports = vaulted["root"] / "reports"
    reports.mkdir(exist_ok=True)
    for kind in ("md", "html", "json", "junit"):
        done = _restore(
            vaulted,
            *["report", "--format", kind, "-o", str(reports / f"report.{kind}")],
            *["--state-dir", str(state)],
        )
        assert done.returncode == 0, done.stderr
        console += done.stdout + done.stderr
    # The playbook really ran with the decrypted value, and its artifacts are there, masked.
    events = [p for p in state.rglob("job_events/*.json")]
    assert events, "ansible-runner artifacts are kept (scrubbed)"
    assert any(b"rebuild with ***" in p.read_bytes() for p in events)
    assert any(b"call with *** at ***" in p.read_bytes() for p in events)
    commands = list(state.rglob("artifacts/*/command"))
    assert commands and all(b"VAULT_TOKEN" not in p.read_bytes() for p in commands)
    assert _leaks(state, secrets) == []
    assert _leaks(reports, secrets) == []
    assert [s for s in secrets if s in console] == []


def test_a_wrong_or_missing_vault_password_is_exit_2_naming_host_and_variable(
    vaulted: dict[str, Any],
) -> None:
    state = str(vaulted["root"] / "state-wrong")
    # A vars file encrypted as a whole cannot be read at all: the file is named.
    whole = _restore(
        vaulted,
        *["check", "-i", str(vaulted["inventory"]), "vwin", "--state-dir", state],
        *["--vault-password-file", str(vaulted["wrong_file"])],
    )
    assert whole.returncode == 2, whole.stderr
    assert "group_vars/lab_linux.yml" in whole.stderr and "Traceback" not in whole.stderr
    # Encrypted values: each host and variable is named.
    project = vaulted["root"] / "project-values-only"
    shutil.copytree(vaulted["project"], project, dirs_exist_ok=True)
    shutil.rmtree(project / "group_vars")
    inventory = str(project / "hosts.yml")
    wrong = _restore(
        vaulted,
        *["check", "-i", inventory, "vwin", "--state-dir", state],
        *["--vault-password-file", str(vaulted["wrong_file"])],
    )
    assert wrong.returncode == 2, wrong.stderr
    assert "vwin" in wrong.stderr and "ansible_password" in wrong.stderr
    assert "requires a password" not in wrong.stderr and "Traceback" not in wrong.stderr
    missing = _restore(vaulted, *["check", "-i", inventory, "vlin", "--state-dir", state])
    assert missing.returncode == 2, missing.stderr
    assert "vlin" in missing.stderr and "lis_release_note" in missing.stderr
    absent = _restore(
        vaulted,
        *["check", "-i", inventory, "--state-dir", state],
        *["--vault-password-file", str(vaulted["root"] / "no-such-file")],
    )
    assert absent.returncode == 2 and "no-such-file" in absent.stderr
    shutil.rmtree(state, ignore_errors=True)
