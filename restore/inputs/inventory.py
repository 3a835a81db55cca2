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

import contextlib
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from restore import __version__
from restore.errors import InputError, InputErrors
from restore.models import Credential, HostSpec, Inventory, Platform
from restore.secrets import decrypt, is_secret_name, is_vaulted, remember, vault_secrets
from restore.state_dir import ensure_private

WINDOWS_CONNECTIONS = frozenset({"winrm", "psrp"})
_CACHE_FORMAT = 1


# Host names become file and folder names under the state dir (step work dirs, evidence,
# baselines): only names that cannot climb out of a folder or start an option are accepted.
SAFE_HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,252}")


def check_host_name(name: str, source: str) -> None:
    """Refuse (exit 2) an inventory host name that is unsafe as a file name."""
    if SAFE_HOST_NAME.fullmatch(name) is None:
        raise InputError(
            f"host name {name!r} is not allowed",
            file=source,
            hint="host names may hold letters, digits, '.', '_' and '-', and must not start "
            "with '.' or '-'; put an unusual address in ansible_host instead",
        )


InventorySource = str | Path | Sequence[str | Path]
"""One inventory, or several (`-i A -i B`) merged in that order exactly as Ansible merges them."""


def inventory_paths(source: InventorySource) -> list[Path]:
    """The inventory sources as a list of paths, in the order given."""
    if isinstance(source, str | Path):
        return [Path(source)]
    return [Path(s) for s in source]


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
        cache_key = _combined_cache_key(paths)
        if cache_key is not None:
            cached = _read_cache(cache_dir, cache_key, describe_sources(paths))
            if cached is not None:
                return cached
    inventory = _load_with_ansible(paths, with_secrets)
    if cache_key is not None and cache_dir is not None:
        _write_cache(cache_dir, cache_key, inventory)
    return inventory


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


def _load_with_ansible(paths: Sequence[Path], with_secrets: bool) -> Inventory:
    # ansible-core prints its own warnings (e.g. "provided hosts list is empty"); we report
    # problems ourselves, with the file named.
    os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_WARNING", "False")
    os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
    os.environ.setdefault("ANSIBLE_NOCOLOR", "True")
    os.environ.setdefault("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "True")
    try:
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
    except ImportError as exc:  # pragma: no cover - broken install
        raise InputError(f"ansible-core is not importable: {exc}") from None

    from ansible.inventory import manager as manager_module

    loader = DataLoader()
    where = describe_sources(paths)
    vault_secrets(loader)  # before parsing: a whole vault-encrypted vars file needs them too
    capture = _ParseFailures(manager_module.display)
    manager_module.display = capture
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
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
                    hosts.append(_host_spec(str(host.name), resolve(host), with_secrets))
                except InputError as exc:  # a vaulted value that does not decrypt
                    undecryptable.append(exc)
            if undecryptable:  # every host and variable at once, not only the first
                raise InputErrors(undecryptable)
            groups = tuple(
                (str(name), tuple(str(h.name) for h in group.get_hosts()))
                for name, group in manager.groups.items()
                if name not in ("all", "ungrouped")
            )
    except AnsibleError as exc:
        message = _first_line(str(exc)) if str(exc) else type(exc).__name__
        if "decrypt" in message.lower():
            encrypted = ", ".join(str(f) for p in paths for f in _vault_files(p))
            raise InputError(
                f"cannot decrypt {encrypted or 'a vault-encrypted file'}: {message}",
                file=where,
                hint="give the right vault password with --vault-password-file, "
                "--ask-vault-pass or ANSIBLE_VAULT_PASSWORD_FILE",
            ) from None
        failed = _failed_source(message, paths)
        raise InputError(
            f"cannot parse inventory: {capture.reason(failed or where) or message}",
            file=failed or where,
        ) from None
    finally:
        manager_module.display = capture._real
    if not hosts:
        raise InputError(
            "inventory has no hosts", file=where, hint="check the file format and groups"
        )
    return Inventory(source=where, hosts=tuple(hosts), groups=groups)


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


def _plain(value: Any) -> Any:
    """Turn ansible-core's tagged/lazy containers into plain JSON-able Python values."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return str(value)


def _host_spec(name: str, all_vars: dict[str, Any], with_secrets: bool) -> HostSpec:
    public: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for key, value in all_vars.items():
        if key in {
            "groups",
            "group_names",
            "inventory_hostname",
            "inventory_hostname_short",
            "inventory_dir",
            "inventory_file",
            "playbook_dir",
            "omit",
            "ansible_version",
            "ansible_playbook_python",
            "ansible_config_file",
        }:
            continue
        if is_secret_name(key) or is_vaulted(value):
            if not with_secrets:
                secrets[key] = ""
            elif is_vaulted(value):
                secrets[key] = decrypt(value, name, key)  # InputError: names host and variable
                if key.startswith("ansible_") and not is_secret_name(key):
                    # A connection setting someone chose to vault (ansible_host, ansible_user
                    # in an encrypted host_vars file): needed to connect, masked in output.
                    public[key] = secrets[key]
            else:
                secrets[key] = _secret_text(value)
                remember([secrets[key]])
            continue
        public[key] = _plain(value)
    connection = str(public.get("ansible_connection", "ssh"))
    restore_platform = str(public.get("restore_platform", "")).lower()
    platform = (
        Platform.WINDOWS
        if connection in WINDOWS_CONNECTIONS or restore_platform == "windows"
        else Platform.LINUX
    )
    groups = tuple(str(g) for g in all_vars.get("group_names", ()))
    return HostSpec(
        name=name,
        platform=platform,
        address=str(public.get("ansible_host", name)),
        port=_port(public, platform, name),
        user=str(public["ansible_user"]) if public.get("ansible_user") else None,
        credential=_credential(public, secrets),
        groups=groups,
        connection_vars=tuple(sorted(public.items())),
        secret_vars=tuple(sorted(secrets.items())) if with_secrets else (),
    )


def _vault_files(path: Path) -> list[Path]:
    """The files of a static inventory that are vault-encrypted as a whole."""
    files = _source_files(path)
    found = []
    for file in files or ():
        with contextlib.suppress(OSError), file.open("rb") as source:
            if source.read(14) == b"$ANSIBLE_VAULT":
                found.append(file)
    return found


def _secret_text(value: Any) -> str:
    plain = _plain(value)
    return plain if isinstance(plain, str) else json.dumps(plain, sort_keys=True)


def _port(public: dict[str, Any], platform: Platform, name: str) -> int:
    raw = public.get("ansible_port")
    if raw is None:
        if platform is Platform.WINDOWS:
            return 5985 if str(public.get("ansible_winrm_scheme", "https")) == "http" else 5986
        return 22
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InputError(
            f"ansible_port {raw!r} is not a number",
            key="ansible_port",
            service=None,
            hint=f"host {name}",
        ) from None


def _credential(public: dict[str, Any], secrets: dict[str, str]) -> Credential:
    key_file = public.get("ansible_ssh_private_key_file") or public.get("ansible_private_key_file")
    if key_file:
        return Credential(kind="key", reference=str(key_file))
    for name in ("ansible_password", "ansible_ssh_pass", "ansible_winrm_password"):
        if name in secrets:
            return Credential(kind="password", reference=f"inventory variable {name}")
    return Credential(kind="none")


# --- cache -----------------------------------------------------------------------------------


def _source_files(path: Path) -> Iterator[Path] | None:
    """Every file the inventory is read from, or None when it is dynamic (never cached)."""
    roots = [path]
    base = path if path.is_dir() else path.parent
    roots += [base / "group_vars", base / "host_vars"]
    files: list[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(p for p in sorted(root.rglob("*")) if p.is_file())
    for file in files:
        if os.access(file, os.X_OK) and file.suffix not in {".yml", ".yaml", ".ini", ".json"}:
            return None
        if file == path and file.suffix in {".yml", ".yaml"}:
            head = file.read_text(errors="replace")[:4096]
            if re.search(r"^plugin\s*:", head, re.M):
                return None
    return iter(files)


def inventory_cache_key(source: InventorySource) -> str | None:
    """Content key of static inventories (every `-i`, in order) and their vars dirs; None when
    one is missing or dynamic."""
    paths = inventory_paths(source)
    if not paths or not all(p.exists() for p in paths):
        return None
    return _combined_cache_key(paths)


def _combined_cache_key(paths: Sequence[Path]) -> str | None:
    """Content key of several sources in order; None if any of them is dynamic."""
    if len(paths) == 1:
        return _cache_key(paths[0])
    keys = [_cache_key(p) for p in paths]
    if any(k is None for k in keys):
        return None
    return hashlib.sha256(":".join(k for k in keys if k).encode()).hexdigest()


def _cache_key(path: Path) -> str | None:
    files = _source_files(path)
    if files is None:
        return None
    digest = hashlib.sha256(f"{__version__}:{_CACHE_FORMAT}:{path.resolve()}".encode())
    for file in files:
        digest.update(str(file).encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _write_cache(cache_dir: Path, key: str, inventory: Inventory) -> None:
    data = {
        "source": inventory.source,
        "groups": [[name, list(members)] for name, members in inventory.groups],
        "hosts": [
            {
                "name": h.name,
                "platform": h.platform.value,
                "address": h.address,
                "port": h.port,
                "user": h.user,
                "credential": [h.credential.kind, h.credential.reference],
                "groups": list(h.groups),
                "vars": dict(h.connection_vars),
            }
            for h in inventory.hosts
        ],
    }
    try:
        ensure_private(cache_dir)  # it names every host and address: for its owner only
        tmp = cache_dir / f".inventory-{key}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, separators=(",", ":")))
        tmp.replace(cache_dir / f"inventory-{key}.json")
    except OSError:
        pass  # a cache that cannot be written only costs time


def _read_cache(cache_dir: Path, key: str, source: str) -> Inventory | None:
    try:
        data = json.loads((cache_dir / f"inventory-{key}.json").read_text())
        hosts = tuple(
            HostSpec(
                name=h["name"],
                platform=Platform(h["platform"]),
                address=h["address"],
                port=h["port"],
                user=h["user"],
                credential=Credential(kind=h["credential"][0], reference=h["credential"][1]),
                groups=tuple(h["groups"]),
                connection_vars=tuple(sorted(h["vars"].items())),
            )
            for h in data["hosts"]
        )
        groups = tuple((g[0], tuple(g[1])) for g in data["groups"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Inventory(source=source, hosts=hosts, groups=groups)
