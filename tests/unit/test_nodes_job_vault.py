"""A node job carries the vault password only when its project holds vaulted data.

The real ``ansible-runner transmit`` stream is read back as the node's worker would: JSON
lines, then the zipped private data directory (base64).
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

from restore.ansible.nodes.job_package import write_transmit
from restore.models import Credential, HostSpec, Platform

TARGET = HostSpec("db1", Platform.LINUX, "127.0.0.1", 22, "root", Credential("none"))
VAULTED = "secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162636465\n"


def shipped(tmp_path: Path, files: dict[str, str]) -> dict[str, bytes]:
    project = tmp_path / "project"
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    vault = tmp_path / "vault-pass"
    vault.write_text("the-vault-password\n")
    out = tmp_path / "job.transmit"
    write_transmit(
        out,
        ident="j1",
        target=TARGET,
        playbook=project / "site.yml",
        extravars={},
        check=False,
        vault_password_file=vault,
    )
    stream = out.read_bytes()
    names: dict[str, bytes] = {}
    offset = 0
    while offset < len(stream):
        end = stream.index(b"\n", offset)
        line = json.loads(stream[offset:end])
        offset = end + 1
        if "zipfile" in line:
            encoded = 4 * ((line["zipfile"] + 2) // 3)  # the zip's size, sent as base64
            packed = base64.b64decode(stream[offset : offset + encoded])
            archive = zipfile.ZipFile(io.BytesIO(packed))
            names.update({n: archive.read(n) for n in archive.namelist()})
            offset += encoded
    return {**names, "": stream}


PLAY = "- hosts: all\n  gather_facts: false\n  tasks: []\n"


def test_a_project_without_vaulted_data_ships_no_vault_password(tmp_path: Path) -> None:
    files = shipped(tmp_path, {"site.yml": PLAY, "group_vars/all.yml": "port: 5432\n"})
    assert "project/site.yml" in files
    assert not any("vault" in name for name in files)
    assert b"the-vault-password" not in files[""]


def test_a_vaulted_value_in_the_project_ships_it(tmp_path: Path) -> None:
    files = shipped(tmp_path, {"site.yml": PLAY, "roles/db/vars/main.yml": VAULTED})
    assert files["vault-password"] == b"the-vault-password\n"
    assert b"--vault-password-file" in files["env/cmdline"]
