"""What the lab hands to its users: an Ansible inventory of its twins (DESIGN §4's contract)
and the known_hosts their SSH clients verify host keys against."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from restore.lab.lab_host import SSH_PORT
from restore.models import Platform

if TYPE_CHECKING:
    from restore.lab.lab import Lab


def write_inventory(lab: Lab) -> Path:
    linux: dict[str, Any] = {}
    windows: dict[str, Any] = {}
    for host in lab.hosts.values():
        common = {
            "ansible_host": host.management,
            "restore_production_address": host.production,
            "restore_lab": str(lab.state_dir),
        }
        if host.platform == Platform.WINDOWS.value:
            from restore.lab.windows import inventory_vars

            windows[host.name] = {**common, **inventory_vars(lab, host)}
            if host.role == "domain_controller":  # its directory is a Samba AD DC's
                from restore.lab import samba_dc

                windows[host.name].update(samba_dc.inventory_vars(lab, host))
        else:
            linux[host.name] = {
                **common,
                "ansible_port": SSH_PORT,
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(lab.key_file),
                "ansible_ssh_common_args": (
                    f"-o UserKnownHostsFile={lab.known_hosts} -o StrictHostKeyChecking=yes"
                ),
                "ansible_python_interpreter": "/usr/bin/python3",
            }
            if host.role == "domain_controller":
                from restore.lab import samba_dc

                linux[host.name].update(samba_dc.inventory_vars(lab, host))
        if host.name in lab.execution_nodes:
            target = linux if host.name in linux else windows
            target[host.name]["restore_execution_node"] = lab.execution_nodes[host.name]
    children: dict[str, Any] = {}
    if linux:
        children["lab_linux"] = {"hosts": linux}
    if windows:
        children["lab_windows"] = {"hosts": windows}
    controllers = [h.name for h in lab.hosts.values() if h.role == "domain_controller"]
    if controllers:
        children["lab_domain_controllers"] = {"hosts": dict.fromkeys(controllers)}
    for group, members in lab.groups.items():
        if group in children or not members:
            continue
        children[group] = {"hosts": dict.fromkeys(members)}
    text = "# Written by `restore lab up`: the lab's hosts on loopback. Do not edit.\n"
    text += yaml.safe_dump({"all": {"children": children}}, sort_keys=False)
    # Owner-only from the first byte: Windows hosts' WinRM password is in it (DESIGN §4).
    tmp = lab.inventory_file.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(text)
    tmp.replace(lab.inventory_file)
    return lab.inventory_file


def write_known_hosts(lab: Lab) -> None:
    lines = []
    for host in lab.hosts.values():
        if host.platform != Platform.LINUX.value:
            continue
        key = lab.host_public_key(host.name)
        lines.append(f"{host.management},{host.production} {key}")
    lab.known_hosts.write_text("\n".join(lines) + ("\n" if lines else ""))
