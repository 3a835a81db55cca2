"""The keys expected in root's authorized_keys without a baseline: inventory and login key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from restore.errors import InputError
from restore.integrity.checks.expected_keys import expected_keys, line_fingerprint
from restore.models import Credential, HostSpec, Platform


def host(credential: Credential, **variables: object) -> HostSpec:
    return HostSpec(
        "db1",
        Platform.LINUX,
        "127.0.0.1",
        22,
        "root",
        credential,
        connection_vars=tuple(sorted(variables.items())),
    )


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    printed = subprocess.run(
        ["ssh-keygen", "-l", "-f", f"{path}.pub"], capture_output=True, text=True, check=True
    )
    return printed.stdout.split()[1]


def test_the_login_key_is_expected_from_its_pub_or_from_the_private_key(tmp_path: Path) -> None:
    fp = keygen(tmp_path / "id")
    assert expected_keys(host(Credential("key", str(tmp_path / "id")))) == {fp}
    (tmp_path / "id.pub").unlink()  # derived from the private key, as ssh-keygen -y would
    assert expected_keys(host(Credential("key", str(tmp_path / "id")))) == {fp}
    assert expected_keys(host(Credential("password", "inventory variable x"))) == set()


def test_the_inventory_lists_fingerprints_or_key_lines(tmp_path: Path) -> None:
    fp = keygen(tmp_path / "a")
    line = (tmp_path / "a.pub").read_text()
    other = keygen(tmp_path / "b")
    listed = host(Credential("none"), restore_authorized_keys=[line, other])
    assert expected_keys(listed) == {fp, other}
    assert line_fingerprint(line) == fp


@pytest.mark.parametrize("value", [["not a key"], {"a": 1}, ["SHA256:short"]])
def test_a_bad_inventory_value_is_an_input_error_naming_host_and_variable(value: object) -> None:
    with pytest.raises(InputError, match="host db1: inventory variable restore_authorized_keys"):
        expected_keys(host(Credential("none"), restore_authorized_keys=value))


def test_restore_check_refuses_a_bad_list_with_exit_2_before_any_host(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yml"
    inventory.write_text(
        "all:\n  hosts:\n    h1:\n      ansible_host: 127.0.0.99\n"
        "      restore_authorized_keys: [not-a-key]\n"
    )
    state = str(tmp_path / "state")
    done = subprocess.run(
        [sys.executable, "-m", "restore", "check", "-i", str(inventory), "--state-dir", state],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "host h1: inventory variable restore_authorized_keys" in done.stderr
    assert "Traceback" not in done.stderr
