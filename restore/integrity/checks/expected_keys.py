"""Which SSH keys may sit in root's and system accounts' authorized_keys without a baseline.

Without a baseline nothing on the host says which keys belong there, and a key added to
root's authorized_keys is the quietest way back in. So the expected keys come from the
control side only: the inventory's ``restore_authorized_keys`` (SHA256 fingerprints as
``ssh-keygen -l`` prints them, or public key lines) and the key this tool logs in with (its
``.pub`` beside it, or derived from the private key when it has no passphrase).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from pathlib import Path

from restore.errors import InputError
from restore.models import HostSpec, Platform

INVENTORY_VARIABLE = "restore_authorized_keys"
_KEY_TYPES = ("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")


def fingerprint(blob: str) -> str | None:
    """SHA256:... of a base64 key blob, as ssh-keygen prints it; None when it is no blob."""
    try:
        decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
    except ValueError:
        return None
    if not decoded or base64.b64encode(decoded).decode().rstrip("=") != blob.rstrip("="):
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(decoded).digest()).decode().rstrip("=")


def line_fingerprint(line: str) -> str | None:
    """The fingerprint of the key in a public key or authorized_keys line."""
    words = line.split()
    for i, word in enumerate(words[:-1]):
        if word.startswith(_KEY_TYPES):
            return fingerprint(words[i + 1])
    return None


def expected_keys(host: HostSpec) -> frozenset[str]:
    listed = host.var(INVENTORY_VARIABLE) or []
    if isinstance(listed, str):
        listed = [listed]
    if not isinstance(listed, list):
        raise _bad(host, f"a list, not {type(listed).__name__}")
    keys = set()
    for item in listed:
        text = str(item).strip()
        found = text if text.startswith("SHA256:") and len(text) == 50 else line_fingerprint(text)
        if found is None:
            raise _bad(host, f"a fingerprint (SHA256:...) or a public key line, not {text[:60]!r}")
        keys.add(found)
    own = _login_key(host)
    return frozenset(keys | ({own} if own else set()))


def validate_expected_keys(hosts: Iterable[HostSpec]) -> None:
    """Refuse a bad ``restore_authorized_keys`` before any host is checked (exit 2)."""
    for host in hosts:
        if host.platform is Platform.LINUX:
            expected_keys(host)


def _login_key(host: HostSpec) -> str | None:
    if host.credential.kind != "key" or not host.credential.reference:
        return None
    private = Path(host.credential.reference).expanduser()
    public = Path(f"{private}.pub")
    try:
        if public.is_file():
            return line_fingerprint(public.read_text(encoding="utf-8", errors="replace"))
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_ssh_private_key(private.read_bytes(), password=None)
        line = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        return line_fingerprint(line.decode())
    except (OSError, ValueError, TypeError):  # unreadable, encrypted, or not an SSH key
        return None


def _bad(host: HostSpec, what: str) -> InputError:
    return InputError(
        f"host {host.name}: inventory variable {INVENTORY_VARIABLE} must be {what}; "
        "list the keys expected in root's and system accounts' authorized_keys "
        "(ssh-keygen -lf KEY.pub prints a fingerprint)"
    )
