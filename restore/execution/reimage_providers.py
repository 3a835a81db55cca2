"""Reimage providers: put a host back to its golden image, and hand over its new host key.

A reimaged host has a new SSH host key. Accepting whatever key it presents (trust on first
use) is exactly the hole an attacker still inside the network would use, so the new key must
come from the provider, the party that built the host, and is pinned into the known_hosts
files the run's SSH clients (paramiko and Ansible) read.

Providers:
- `lab`: the built-in lab's reset, registered by `restore run` and `rehearse`
  (restore.lab.providers.register, through restore.execution.providers), for rehearsals and CI;
- `command`: a local command template (a hypervisor's own CLI), from the inventory variable
  `restore_reimage_command`, e.g. ``virt-restore {host} {address}``; it must print the new
  public host key (``ssh-ed25519 AAAA...``) on its last output line.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from pathlib import Path

from restore.execution.providers import (
    ReimageProvider,
    ReimageResult,
    registered_reimage_provider,
)
from restore.models import HostSpec, Platform

_KEY_LINE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+)\s+[A-Za-z0-9+/=]+")
_PIN_LOCK = threading.Lock()


class CommandProvider:
    name = "command"

    def __init__(self, template: str) -> None:
        self.template = template

    def reimage(self, host: HostSpec, timeout_s: float) -> ReimageResult:
        argv = [
            part.format(host=host.name, address=host.address) for part in shlex.split(self.template)
        ]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return ReimageResult(False, f"reimage command failed: {exc}")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            return ReimageResult(False, f"reimage command exited {done.returncode}: {tail[0]}")
        lines = [ln.strip() for ln in done.stdout.splitlines() if ln.strip()]
        key = lines[-1] if lines and _KEY_LINE.match(lines[-1]) else None
        if key is None and host.platform is Platform.LINUX:
            return ReimageResult(
                False,
                "the reimage command printed no host key on its last line; refusing to "
                "trust the new host's key on first use",
            )
        return ReimageResult(
            True, "reimaged by command", host_key=" ".join((key or "").split()[:2]) or None
        )


def provider_for(host: HostSpec) -> ReimageProvider | None:
    """A registered provider that claims the host (the lab's, a site's), else the command
    template the inventory names (`restore_reimage_command`)."""
    registered = registered_reimage_provider(host)
    if registered is not None:
        return registered
    wanted = host.var("restore_reimage_provider")
    template = host.var("restore_reimage_command")
    if wanted in (None, "command") and template:
        return CommandProvider(str(template))
    return None


def known_hosts_targets(host: HostSpec) -> list[Path]:
    """The known_hosts files the inventory tells SSH clients to use for this host."""
    from restore.transports.ssh import ssh_options

    files: list[Path] = []
    for value in ssh_options(host).get("userknownhostsfile", []):
        files += [Path(p).expanduser() for p in value.split()]
    return files


def pin_host_key(host: HostSpec, key: str, extra_files: list[Path] | None = None) -> list[Path]:
    """Replace the host's lines in its known_hosts files with the provider's key."""
    names = {host.address, host.name}
    production = host.var("restore_production_address")
    if production:
        names.add(str(production))
    if host.port != 22:
        names |= {f"[{n}]:{host.port}" for n in list(names)}
    written: list[Path] = []
    with _PIN_LOCK:
        for path in [*known_hosts_targets(host), *(extra_files or [])]:
            lines = path.read_text().splitlines() if path.exists() else []
            kept = [ln for ln in lines if not (set(ln.split(" ", 1)[0].split(",")) & names)]
            kept.append(f"{','.join(sorted(names))} {key}")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".restore-tmp")
            tmp.write_text("\n".join(kept) + "\n")
            tmp.replace(path)
            written.append(path)
    return written
