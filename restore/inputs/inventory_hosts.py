"""An inventory host's resolved variables -> HostSpec, split by the one secrets policy.

Ordinary variables become HostSpec.connection_vars; secret-named and vaulted values go to
HostSpec.secret_vars (decrypted only when the caller acts on hosts), never anywhere else.
"""

from __future__ import annotations

import json
import re
from typing import Any

from restore.errors import InputError
from restore.models import Credential, HostSpec, Platform
from restore.secrets import decrypt, is_secret_name, is_vaulted, remember

WINDOWS_CONNECTIONS = frozenset({"winrm", "psrp"})

# Variables ansible-core adds to every host: not the inventory's own, never kept.
MAGIC_VARIABLES = frozenset(
    {
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
    }
)

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


def plain(value: Any) -> Any:
    """Turn ansible-core's tagged/lazy containers into plain JSON-able Python values."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    return str(value)


def host_spec(name: str, all_vars: dict[str, Any], with_secrets: bool) -> HostSpec:
    public: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for key, value in all_vars.items():
        if key in MAGIC_VARIABLES:
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
        public[key] = plain(value)
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


def _secret_text(value: Any) -> str:
    text = plain(value)
    return text if isinstance(text, str) else json.dumps(text, sort_keys=True)


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
