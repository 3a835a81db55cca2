"""Ansible inventory -> Inventory of HostSpec, read by ansible-core's own machinery.

Going through InventoryManager/VariableManager means INI, YAML, directories, group_vars/
host_vars and dynamic inventory scripts behave exactly as they do for `ansible-playbook`.

Secrets (passwords, vaulted values) are split from ordinary variables at load time by the one
secrets policy (restore.secrets): they live in HostSpec.secret_vars, are never cached, never
printed, never journaled. The inventory is read with the user's vault secrets; a vaulted
value that does not decrypt is an error naming the host and the variable.

Loading a big inventory is dominated by ansible-core itself (seconds at 10,000 hosts), so the
resolved, secret-free inventory is cached in the user's private cache folder
(restore.state_dir.user_cache_dir), keyed by the content of every file it was read from. A
dynamic inventory (an executable or an inventory plugin config) is never cached: its output
can change with nothing on disk changing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from restore.errors import InputError
from restore.inputs.inventory_ansible import load_with_ansible
from restore.inputs.inventory_cache import (
    combined_cache_key,
    read_cache,
    write_cache,
)
from restore.inputs.inventory_hosts import SAFE_HOST_NAME, WINDOWS_CONNECTIONS, check_host_name
from restore.models import Inventory

# The parts, one job each: inventory_ansible (ansible-core reads the sources),
# inventory_hosts (variables -> HostSpec, secrets split off), inventory_cache.
__all__ = [
    "SAFE_HOST_NAME",
    "WINDOWS_CONNECTIONS",
    "InventorySource",
    "check_host_name",
    "describe_sources",
    "inventory_cache_key",
    "inventory_paths",
    "load_inventory",
]

InventorySource = str | Path | Sequence[str | Path]
"""One inventory, or several (`-i A -i B`) merged in that order exactly as Ansible merges them."""


def inventory_paths(source: InventorySource) -> list[Path]:
    """The inventory sources as a list of paths, in the order given."""
    if isinstance(source, str | Path):
        return [Path(source)]
    return [Path(s) for s in source]


def inventory_cache_key(source: InventorySource) -> str | None:
    """Content key of static inventories (every `-i`, in order) and their vars dirs; None when
    one is missing or dynamic."""
    paths = inventory_paths(source)
    if not paths or not all(p.exists() for p in paths):
        return None
    return combined_cache_key(paths)


def describe_sources(paths: Sequence[Path]) -> str:
    """How messages name the inventory: its path, or its paths joined."""
    return " + ".join(str(p) for p in paths)


def load_inventory(
    source: InventorySource, *, cache_dir: Path | None = None, with_secrets: bool = False
) -> Inventory:
    """Load an inventory. ``with_secrets`` is needed to act on hosts, never for planning.

    Several sources are handed to one ansible-core InventoryManager, as `ansible -i A -i B`
    does: groups, hosts and variables from each merge in order (a later source wins for a
    variable both set). ``cache_dir`` enables the content-keyed cache (secret-free, so only
    without secrets).
    """
    paths = inventory_paths(source)
    if not paths:
        raise InputError("no inventory given", hint="pass an Ansible inventory with -i")
    for path in paths:
        if not path.exists():
            raise InputError(
                "inventory not found", file=str(path), hint="pass an Ansible inventory with -i"
            )
    cache_key = None
    if cache_dir is not None and not with_secrets:
        cache_key = combined_cache_key(paths)
        if cache_key is not None:
            cached = read_cache(cache_dir, cache_key, describe_sources(paths))
            if cached is not None:
                return cached
    inventory = load_with_ansible(paths, describe_sources(paths), with_secrets)
    if cache_key is not None and cache_dir is not None:
        write_cache(cache_dir, cache_key, inventory)
    return inventory
