"""Reading an inventory through ansible-core's own machinery (InventoryManager).

Going through ansible-core means INI, YAML, directories, group_vars/host_vars and dynamic
inventory scripts behave exactly as they do for `ansible-playbook`. Its failures become our
own errors, naming the file; its warnings are not printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from restore.errors import InputError, InputErrors
from restore.inputs.inventory_cache import source_files
from restore.inputs.inventory_hosts import check_host_name, host_spec
from restore.models import HostSpec, Inventory
from restore.secrets import vault_secrets


class _ParseFailures:
    """Stands in for ansible-core's inventory `display` while an inventory loads: keeps each
    plugin's parse failure to report once, in our own error, instead of letting ansible-core
    print it as a warning that repeats its cause on one line before our error repeats it
    again. Everything else (debug, verbose lines) goes to the real display."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.failures: list[tuple[str, str]] = []  # (plugin, first line of its error)

    def error_as_warning(self, msg: str, exception: BaseException, **_: Any) -> None:
        plugin = re.search(r"with '([^']+)' plugin", str(msg))
        reason = _first_line(getattr(exception, "message", None) or str(exception))
        self.failures.append((plugin.group(1) if plugin else "", reason))

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.failures.append(("", _first_line(str(msg))))

    def reason(self, source: str) -> str | None:
        """The failure of the plugin meant for this file's kind (ini, yaml), else all of
        them: the others' complaints ('no root plugin key') only confuse."""
        kind = "yaml" if source.endswith((".yml", ".yaml")) else "ini"
        chosen = [r for plugin, r in self.failures if plugin == kind] or [
            r for _, r in self.failures
        ]
        return "; ".join(dict.fromkeys(chosen)) or None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else text


def load_with_ansible(paths: Sequence[Path], where: str, with_secrets: bool) -> Inventory:
    """Every host of the sources (`where` names them in messages), read by ansible-core."""
    _quiet_ansible()
    try:
        from ansible.errors import AnsibleError
        from ansible.inventory import manager as manager_module
        from ansible.parsing.dataloader import DataLoader
    except ImportError as exc:  # pragma: no cover - broken install
        raise InputError(f"ansible-core is not importable: {exc}") from None

    loader = DataLoader()
    vault_secrets(loader)  # before parsing: a whole vault-encrypted vars file needs them too
    capture = _ParseFailures(manager_module.display)
    manager_module.display = capture
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hosts, groups = _read_hosts(loader, paths, where, with_secrets)
    except AnsibleError as exc:
        raise _as_input_error(exc, paths, where, capture) from None
    finally:
        manager_module.display = capture._real
    if not hosts:
        raise InputError(
            "inventory has no hosts", file=where, hint="check the file format and groups"
        )
    return Inventory(source=where, hosts=tuple(hosts), groups=groups)


def _quiet_ansible() -> None:
    """ansible-core prints its own warnings (e.g. "provided hosts list is empty"); we report
    problems ourselves, with the file named."""
    os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_WARNING", "False")
    os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
    os.environ.setdefault("ANSIBLE_NOCOLOR", "True")
    os.environ.setdefault("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "True")


def _read_hosts(
    loader: Any, paths: Sequence[Path], where: str, with_secrets: bool
) -> tuple[list[HostSpec], tuple[tuple[str, tuple[str, ...]], ...]]:
    from ansible.inventory.manager import InventoryManager

    # Absolute, as ansible-playbook passes them: vars plugins (host_vars/, group_vars/)
    # look next to each source and miss them for a bare relative file name.
    manager = InventoryManager(loader=loader, sources=[str(p.absolute()) for p in paths])
    resolve = _VarResolver(loader, manager)
    for host in manager.get_hosts():
        check_host_name(str(host.name), where)
    hosts: list[HostSpec] = []
    undecryptable: list[InputError] = []
    for host in manager.get_hosts():
        try:
            hosts.append(host_spec(str(host.name), resolve(host), with_secrets))
        except InputError as exc:  # a vaulted value that does not decrypt
            undecryptable.append(exc)
    if undecryptable:  # every host and variable at once, not only the first
        raise InputErrors(undecryptable)
    groups = tuple(
        (str(name), tuple(str(h.name) for h in group.get_hosts()))
        for name, group in manager.groups.items()
        if name not in ("all", "ungrouped")
    )
    return hosts, groups


def _as_input_error(
    exc: Exception, paths: Sequence[Path], where: str, capture: _ParseFailures
) -> InputError:
    """ansible-core's failure as ours: the file it concerns, its first line, a fix."""
    message = _first_line(str(exc)) if str(exc) else type(exc).__name__
    if "decrypt" in message.lower():
        encrypted = ", ".join(str(f) for p in paths for f in _vault_files(p))
        return InputError(
            f"cannot decrypt {encrypted or 'a vault-encrypted file'}: {message}",
            file=where,
            hint="give the right vault password with --vault-password-file, "
            "--ask-vault-pass or ANSIBLE_VAULT_PASSWORD_FILE",
        )
    failed = _failed_source(message, paths)
    return InputError(
        f"cannot parse inventory: {capture.reason(failed or where) or message}",
        file=failed or where,
    )


def _failed_source(message: str, paths: Sequence[Path]) -> str | None:
    """The source ansible-core names as unparsable, as the user wrote it; None if unnamed."""
    marker = "inventory source "
    if marker not in message:
        return None
    named = message.split(marker, 1)[1].strip()
    for path in paths:
        if str(path.absolute()) == named or str(path.resolve()) == named:
            return str(path)
    return named  # a file inside an inventory directory


class _VarResolver:
    """A host's inventory variables with ansible-core's precedence, minus the per-host cost.

    VariableManager.get_vars() also cleans fact caches and recombines every group's variables
    for every host, which dominates at 10,000 hosts. Variables are combined here in the same
    default order (all group, groups by depth/priority/name, vars plugins such as
    group_vars/host_vars next to the inventory, then host vars), but each distinct set of
    groups is combined once.
    """

    def __init__(self, loader: Any, manager: Any) -> None:
        from ansible.inventory.helpers import get_group_vars, sort_groups
        from ansible.utils.vars import combine_vars
        from ansible.vars.plugins import get_vars_from_inventory_sources

        # ansible-core is untyped: hold its helpers as Any so mypy --strict stays meaningful
        # for our own code.
        self._combine: Any = combine_vars
        self._sort_groups: Any = sort_groups
        self._group_vars: Any = get_group_vars
        plugin_vars: Any = get_vars_from_inventory_sources
        self._plugins: Any = lambda entities: plugin_vars(
            loader, manager._sources, entities, "task"
        )
        self._all = manager.groups["all"]
        self._by_groups: dict[tuple[str, ...], dict[str, Any]] = {}
        source_dirs = [Path(s) if Path(s).is_dir() else Path(s).parent for s in manager._sources]
        # host_vars lookups glob the disk for every host: skip them when no such dir exists.
        self._has_host_vars = any((d / "host_vars").is_dir() for d in source_dirs)

    def __call__(self, host: Any) -> dict[str, Any]:
        groups = self._sort_groups([g for g in host.get_groups() if g.name != "all"])
        key = tuple(g.name for g in groups)
        base = self._by_groups.get(key)
        if base is None:
            base = self._combine(self._all.get_vars(), self._group_vars(groups))
            base = self._combine(base, self._plugins([self._all]))
            base = self._combine(base, self._plugins(groups))
            self._by_groups[key] = base
        result: dict[str, Any] = self._combine(base, host.get_vars())
        if self._has_host_vars:
            result = self._combine(result, self._plugins([host]))
        result["group_names"] = sorted(key)
        return result


def _vault_files(path: Path) -> list[Path]:
    """The files of a static inventory that are vault-encrypted as a whole."""
    files = source_files(path)
    found = []
    for file in files or ():
        with contextlib.suppress(OSError), file.open("rb") as source:
            if source.read(14) == b"$ANSIBLE_VAULT":
                found.append(file)
    return found
