"""The host checks' parsers, applied to files read from a backup snapshot instead of a host.

A snapshot holds the files, not the output of the commands the live checks run, so each
function here feeds the bytes to the same parser (restore.integrity.checks.linux_facts) in the
shape that parser reads: one reading of /etc/passwd, authorized_keys and ld.so.preload for a
live host and for its backups alike.
"""

from __future__ import annotations

from typing import Any

from restore.integrity.checks.linux_facts import (
    glibc_id,
    parse_authorized_keys,
    parse_preload,
)
from restore.models import CommandOutput


def uid_as_glibc(field: str) -> int | None:
    """A passwd UID field as glibc's nss_files reads it: strtoul, then cut to 32 bits.

    So "4294967296" and " +0" are UID 0 to the system, whatever a stricter reader thinks.
    """
    return glibc_id(field)


def passwd_from_bytes(data: bytes) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A passwd file's accounts (as glibc reads them) and the lines glibc would not read.

    Comments are lines whose first non-blank character is '#', as in glibc.
    """
    accounts: dict[str, dict[str, Any]] = {}
    odd: list[str] = []
    for line in data.decode("utf-8", "replace").split("\n"):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(":")
        uid = uid_as_glibc(parts[2]) if len(parts) >= 7 else None
        if uid is None:
            odd.append(line)
            continue
        accounts[parts[0]] = {"uid": uid, "home": parts[5], "shell": parts[6]}
    return accounts, odd


def authorized_keys_from_bytes(path: str, data: bytes) -> tuple[dict[str, str], list[str]]:
    """One authorized_keys file's keys (as parse_authorized_keys gives them) and the
    non-comment lines that hold no key it could read, as they are in the file."""
    keys: dict[str, str] = {}
    odd: list[str] = []
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parsed = parse_authorized_keys(CommandOutput(rc=0, stdout=f"{path}\t{line}\n"))
        if parsed.value:
            keys.update(parsed.value)
        else:
            odd.append(line)
    return keys, odd


def preload_from_bytes(data: bytes) -> dict[str, Any]:
    """An /etc/ld.so.preload file's content, parsed as parse_preload does on a host."""
    text = data.decode("utf-8", "replace")
    return parse_preload(CommandOutput(rc=0, stdout="PRESENT\n" + text))
