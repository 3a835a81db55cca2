"""The job a node receives: ansible-runner's transmit stream of a private data directory.

The directory carries everything the node needs and nothing else: a copy of the playbook's
directory (roles, group_vars), a one-host inventory with every variable the target resolved
to here and its groups (vaulted values already decrypted here), the target's known_hosts and
key, and the vault password only when a file of the project is vault-encrypted (whole, or a
``!vault`` value in it): the node never holds the key to vaulted data it was not sent. That
inventory is the merge of every `-i` of the run, done once, here: the inventory files
themselves would ship every other host's secrets, and paths that exist only here. Host-key
checking stays on: ansible-runner would turn it off otherwise. A fresh staging directory per
job, deleted right after transmit: transmit packs the whole directory, so a reused one
silently ships the previous job's extra vars.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from restore.ansible.runner import ANSIBLE_ENV
from restore.models import HostSpec
from restore.transports.ssh import known_hosts_files

MAX_PROJECT_BYTES = 64 << 20
_PATH_VARS = {
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
    "ansible_ssh_args",
    "restore_lab",
}


def write_transmit(
    out_path: Path,
    *,
    ident: str,
    target: HostSpec,
    playbook: Path,
    extravars: Mapping[str, Any],
    check: bool,
    vault_password_file: Path | None,
) -> None:
    staging = Path(tempfile.mkdtemp(prefix="restore-stage-"))
    try:
        vaulted = _copy_project(playbook.resolve().parent, staging / "project")
        (staging / "inventory").mkdir()
        inventory = staging / "inventory" / "hosts.yml"
        inventory.write_text(yaml.safe_dump(_job_inventory(target)))
        known_hosts = b"".join(p.read_bytes() for p in known_hosts_files(target))
        (staging / "inventory" / "known_hosts").write_bytes(known_hosts)
        key_file = target.var("ansible_ssh_private_key_file") or target.var(
            "ansible_private_key_file"
        )
        ssh_key = Path(str(key_file)).expanduser().read_text() if key_file else None
        cmdline = ["--check", "--diff"] if check else []
        if vault_password_file is not None and vaulted:
            shutil.copyfile(vault_password_file, staging / "vault-password")
            cmdline += ["--vault-password-file", "../vault-password"]
        with out_path.open("wb") as out:
            out_path.chmod(0o600)
            ansible_runner.run(
                streamer="transmit",
                _output=out,
                private_data_dir=str(staging),
                ident=ident,
                playbook=playbook.name,
                inventory=str(inventory),  # absolute: transmit makes it relative
                limit=target.name,
                extravars=dict(extravars),
                envvars=dict(ANSIBLE_ENV),
                ssh_key=ssh_key,
                cmdline=" ".join(shlex.quote(a) for a in cmdline) or None,
                quiet=True,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy_project(source: Path, project: Path) -> bool:
    """The playbook's directory (roles, group_vars...), which every job carries. Bounded:
    a playbook kept beside unrelated data would otherwise ship all of it to the node.
    Returns whether any file in it holds vault-encrypted data (the job then needs the vault
    password)."""
    total = 0
    vaulted = False
    for root, dirs, files in os.walk(source):
        here = Path(root)
        dirs[:] = [d for d in dirs if not os.path.ismount(here / d) and d != ".git"]
        target = project / here.relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            path = here / name
            if not path.is_file():
                continue  # sockets, fifos, devices: nothing a playbook reads
            total += path.stat().st_size
            if total > MAX_PROJECT_BYTES:
                raise ValueError(
                    f"the playbook directory {source} holds more than "
                    f"{MAX_PROJECT_BYTES >> 20} MiB, and every job on an execution node carries a "
                    "copy of it: keep playbooks in a directory of their own"
                )
            shutil.copy2(path, target / name)
            vaulted = vaulted or _holds_vault_data(path)
    return vaulted


_VAULT_HEADER = b"$ANSIBLE_VAULT;"


def _holds_vault_data(path: Path) -> bool:
    """A vault-encrypted file starts with its header; a ``!vault`` value in a YAML file
    carries the same header after the tag. Either way the header is in the bytes."""
    with path.open("rb") as source:
        tail = b""
        while chunk := source.read(1 << 20):
            if _VAULT_HEADER in tail + chunk:
                return True
            tail = chunk[-len(_VAULT_HEADER) :]
    return False


def _job_inventory(target: HostSpec) -> dict[str, Any]:
    """The target alone, with every variable it resolved to here (group vars included), and
    its known_hosts taken from inside the job."""
    # str(): ansible-core hands back tagged strings, which a plain YAML dump refuses
    host_vars: dict[str, Any] = {
        str(k): v for k, v in target.connection_vars if k not in _PATH_VARS
    }
    host_vars.update({str(k): str(v) for k, v in target.secret_vars})
    host_vars.update(
        {
            "ansible_host": target.address,
            "ansible_port": target.port,
            "ansible_ssh_common_args": (
                "-o UserKnownHostsFile={{ inventory_dir }}/known_hosts -o StrictHostKeyChecking=yes"
            ),
        }
    )
    if target.user:
        host_vars["ansible_user"] = target.user
    # Its groups too, so that a play aimed at a group (`hosts: dbservers`) finds it on the node
    # as here, whichever of the run's inventories (-i A -i B) put it there.
    children = {g: {"hosts": {target.name: None}} for g in target.groups if g != "ungrouped"}
    everyone: dict[str, Any] = {"hosts": {target.name: host_vars}}
    if children:
        everyone["children"] = children
    return {"all": everyone}
