"""The one secrets policy at the inventory: one list of secret names (journal.py and
inventory.py used to disagree: `db_credential` or `session_cookie` were secret for the journal
but ordinary, cached and printable variables for the inventory), and vault-encrypted vars files
read with the user's password, their connection settings usable and their values masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from restore.inputs.inventory import load_inventory
from restore.secrets import is_secret_name, redact_text

VAULT_BIN = Path(sys.executable).parent / "ansible-vault"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("ansible_password", True),
        ("ansible_become_pass", True),
        ("db_credential", True),
        ("session_cookie", True),
        ("X-Authorization", True),
        ("lis_api_key", True),
        ("ldap_bind_passphrase", True),
        ("vault_addr", True),
        ("ansible_ssh_private_key_file", False),
        ("ansible_private_key_file", False),
        ("tls_key_path", False),
        ("ansible_host", False),
    ],
)
def test_one_list_of_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_secret_named_inventory_values_never_reach_the_cache(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    db01:\n      ansible_host: 127.0.0.1\n"
        "      db_credential: cr3d-value-1234\n      session_cookie: c00kie-value-5678\n"
    )
    cache = tmp_path / "cache"
    planning = load_inventory(inventory, cache_dir=cache)
    assert dict(planning.host("db01").connection_vars).keys() == {"ansible_host"}
    written = b"".join(p.read_bytes() for p in cache.iterdir())
    assert b"cr3d-value" not in written and b"c00kie-value" not in written
    acting = load_inventory(inventory, with_secrets=True)
    assert acting.host("db01").secret("db_credential") == "cr3d-value-1234"
    assert redact_text("login with cr3d-value-1234") == "login with ***"


def test_a_vault_encrypted_host_vars_file_is_used_and_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = tmp_path / "vault-pass"
    password.write_text("s3same\n")
    (tmp_path / "host_vars").mkdir()
    host_vars = tmp_path / "host_vars" / "web01.yml"
    host_vars.write_text(
        "ansible_host: 127.0.0.77\nansible_user: svc-rebuild\nwelcome_text: h3llo-vaulted\n"
    )
    subprocess.run(
        [str(VAULT_BIN), "encrypt", "--vault-password-file", str(password), str(host_vars)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    web01:\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    host = load_inventory(tmp_path / "hosts.yml", with_secrets=True).host("web01")
    assert (host.address, host.user) == ("127.0.0.77", "svc-rebuild")
    assert host.secret("welcome_text") == "h3llo-vaulted"
    assert "h3llo-vaulted" not in json.dumps(dict(host.connection_vars))
    assert redact_text("banner h3llo-vaulted") == "banner ***"
    # Without the password: exit 2 naming the encrypted file, through the real program.
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"}
    done = subprocess.run(
        [sys.executable, "-m", "restore", "check", "-i", str(tmp_path / "hosts.yml")],
        capture_output=True,
        text=True,
        check=False,
        env={**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "host_vars/web01.yml" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("typed", "decrypts"), [("s3same", True), ("wrong", False)])
def test_ask_vault_pass_prompts_once_and_decrypts(
    tmp_path: Path, typed: str, decrypts: bool
) -> None:
    import pexpect

    password = tmp_path / "vault-pass"
    password.write_text("s3same\n")
    encrypted = subprocess.run(
        [
            *[str(VAULT_BIN), "encrypt_string", "--vault-password-file", str(password)],
            *["--name", "ansible_password", "pr0mpted-secret"],
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "web01.yml").write_text(encrypted)
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    web01:\n      ansible_host: 127.0.0.1\n      ansible_port: 9\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "restore", "check", "-i", "hosts.yml", "--ask-vault-pass", "--format", "json"],
        cwd=str(tmp_path),
        env={**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")},
        encoding="utf-8",
        timeout=120,
    )
    child.expect("Vault password: ")
    child.sendline(typed)
    output = child.read()
    child.close()
    assert "pr0mpted-secret" not in output
    if decrypts:  # on to the check itself: port 9 answers nothing, so unreachable (exit 1)
        assert child.exitstatus == 1, output
        assert "unreachable" in output and "requires a password" not in output
    else:
        assert child.exitstatus == 2, output
        assert "web01" in output and "ansible_password" in output
