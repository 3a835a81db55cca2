"""Where a host's backups are, read from the same inventory variables as restore_data.

restore_data (playbooks/roles/restore_data) restores from ``restore_data_repository`` on
``restore_data_backup_host``, opened with ``restore_data_password`` (by default
``vault_restic_password``), snapshots tagged ``restore_data_tag``. The scan runs restic on
the control node: a backup host reached by SSH is read over SFTP with the inventory's own
SSH settings (key, user, port, known_hosts), so nothing runs on the backup host.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

from restore.backups.restic import Repository
from restore.errors import InputError
from restore.models import HostSpec, Inventory

REPOSITORY_VAR = "restore_data_repository"
BACKUP_HOST_VAR = "restore_data_backup_host"
PASSWORD_VAR = "restore_data_password"
TAG_VAR = "restore_data_tag"
DEFAULT_BACKUP_HOST = "backup01"
DEFAULT_REPOSITORY = "/srv/backup/restic"
DEFAULT_PASSWORD_VAR = "vault_restic_password"
# The restic password handed over in the environment, instead of the inventory's: how the
# restore_data role passes the password its play resolved (vars files, vault) to the scan.
PASSWORD_ENV = "RESTORE_RESTIC_PASSWORD"
_SINGLE_VAR = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


@dataclass(frozen=True)
class BackupSource:
    host: str
    repository: Repository = field(repr=False)
    location: str  # shown to people: the repository, never the password
    tag: str


def scanned_hosts(inventory: Inventory, names: list[str]) -> list[HostSpec]:
    """Hosts named on the command line, else every host with a restore_data variable."""
    if names:
        missing = [n for n in names if n not in inventory.host_names]
        if missing:
            raise InputError(f"unknown host '{missing[0]}'", file=inventory.source)
        return [inventory.host(n) for n in names]
    chosen = [h for h in inventory.hosts if h.var(REPOSITORY_VAR) is not None or h.var(TAG_VAR)]
    if not chosen:
        raise InputError(
            f"no host has {REPOSITORY_VAR} or {TAG_VAR}",
            file=inventory.source,
            hint="name the hosts whose backups to scan, or set those variables",
        )
    return chosen


def _resolve(host: HostSpec, value: str | None) -> str | None:
    """A value that is one variable reference ({{ name }}) resolves to that variable."""
    seen = 0
    while value is not None and (match := _SINGLE_VAR.match(value)) and seen < 5:
        name = match.group(1)
        secret = host.secret(name)
        value = secret if secret is not None else host.var(name)
        value = None if value is None else str(value)
        seen += 1
    return value


def source_for(host: HostSpec, inventory: Inventory, repo_override: str | None) -> BackupSource:
    password = os.environ.get(PASSWORD_ENV) or _resolve(
        host, host.secret(PASSWORD_VAR) or "{{ " + DEFAULT_PASSWORD_VAR + " }}"
    )
    if not password or "{{" in password:
        raise InputError(
            f"host {host.name}: no restic password",
            file=inventory.source,
            key=PASSWORD_VAR,
            hint=f"set {PASSWORD_VAR} or {DEFAULT_PASSWORD_VAR} (ansible-vault), "
            "and give the vault password as for ansible-playbook; "
            f"or give the password in {PASSWORD_ENV}",
        )
    tag = str(_resolve(host, str(host.var(TAG_VAR) or "")) or "")
    if repo_override:
        return BackupSource(host.name, Repository(repo_override, password), repo_override, tag)
    path = str(_resolve(host, str(host.var(REPOSITORY_VAR) or DEFAULT_REPOSITORY)))
    backup_name = str(_resolve(host, str(host.var(BACKUP_HOST_VAR) or DEFAULT_BACKUP_HOST)))
    if backup_name not in inventory.host_names:
        raise InputError(
            f"host {host.name}: backup host '{backup_name}' is not in the inventory",
            file=inventory.source,
            key=BACKUP_HOST_VAR,
        )
    backup = inventory.host(backup_name)
    if str(backup.var("ansible_connection", "ssh")) == "local":
        return BackupSource(host.name, Repository(path, password), path, tag)
    location = f"sftp:{backup.user or 'root'}@{backup.address}:{path}"
    options = (f"sftp.command={sftp_command(backup)}",)
    return BackupSource(host.name, Repository(location, password, options), location, tag)


def sftp_command(backup: HostSpec) -> str:
    """The ssh command restic's sftp backend runs: the inventory's key, port, known_hosts."""
    argv = ["ssh", "-o", "BatchMode=yes", "-p", str(backup.port)]
    if backup.credential.kind == "key" and backup.credential.reference:
        argv += ["-i", backup.credential.reference]
    common = backup.var("ansible_ssh_common_args")
    if common:
        argv += shlex.split(str(common))
    argv += ["-l", backup.user or "root", backup.address, "-s", "sftp"]
    return shlex.join(argv)
