"""A domain controller's SYSVOL, read over SMB (smbprotocol) from the control node.

What a GPO deploys lives in SYSVOL, not in the directory: the LDAP read says *that* a GPO
changed, this says *what it now runs*. Each GPO folder is found from the GPO's GUID (the
`name` LDAP gave, checked to be a GUID), never from `gPCFileSysPath`: that path is the DC's
text and could name another server (an NTLM relay) or another folder.

Hostile-data rules: at most MAX_FILES entries and MAX_DEPTH levels per GPO, MAX_FILE_BYTES
read per file (a larger file is read up to the cap and marked truncated), one deadline for the
whole read enforced here (the read runs in a worker thread; a server that stops answering
leaves a `timed out` problem, not a hung check). Links (reparse points) are recorded with
their target and never followed; anything neither file nor folder is never opened. Names are
kept as the server sent them and shown escaped.

Inventory variables: `restore_sysvol_user` (default: the read account, when it is written as
user@realm or DOMAIN\\user), its password is `restore_ldap_bind_password`; `restore_smb_port`
(default 445). SMB signing is required.
"""

from __future__ import annotations

import errno
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from restore.directory.connection import DirectoryError
from restore.directory.gpo_files import Deployed, describe, raw
from restore.models import HostSpec

MAX_FILES = 500
MAX_DEPTH = 12
MAX_FILE_BYTES = 1 << 20
MAX_GPOS = 200
MAX_TOTAL_BYTES = 32 << 20  # over every GPO: what is read is also kept as evidence
DEADLINE_S = 60.0
_GUID = re.compile(r"^\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}$")


@dataclass(frozen=True)
class SysvolFile:
    path: str  # relative to the GPO folder, '/'-separated, as the server named it
    kind: str  # file | link | other
    size: int
    modified: datetime | None
    sha256: str = ""
    truncated: bool = False
    target: str = ""  # a link's target, as the server gave it
    data: bytes = field(default=b"", repr=False)  # what was read (at most MAX_FILE_BYTES)
    deployed: Deployed = field(default_factory=Deployed)


@dataclass(frozen=True)
class GpoFolder:
    guid: str
    files: tuple[SysvolFile, ...] = ()
    problems: tuple[str, ...] = ()
    # the DC has no folder for this GPO: Samba does not replicate SYSVOL, so a replica DC
    # lacks every GPO folder; on Windows (DFSR) it is a GPO broken or tampered with
    missing: bool = False

    @property
    def deployed(self) -> list[str]:
        return [f"{f.path}: {item}" for f in self.files for item in f.deployed.items]

    @property
    def executes(self) -> bool:
        return any(f.deployed.executes for f in self.files)


def dns_domain(base_dn: str) -> str:
    return ".".join(
        part.split("=", 1)[1]
        for part in base_dn.split(",")
        if part.strip().upper().startswith("DC=")
    )


def smb_user(host: HostSpec) -> str:
    user = host.var("restore_sysvol_user") or host.var("restore_ldap_bind_dn")
    text = str(user or "")
    if "@" not in text and "\\" not in text:
        raise DirectoryError(
            f"{host.name}: SYSVOL needs an account as user@realm or DOMAIN\\user: set "
            "restore_sysvol_user (its password is restore_ldap_bind_password)"
        )
    return text


def read_gpo_folders(
    host: HostSpec, base_dn: str, guids: list[str], deadline_s: float = DEADLINE_S
) -> list[GpoFolder]:
    """Every GPO folder of `guids` (at most MAX_GPOS); DirectoryError if SMB fails as a whole."""
    password = host.secret("restore_ldap_bind_password")
    if not password:
        raise DirectoryError(f"{host.name}: no restore_ldap_bind_password for SYSVOL")
    user = smb_user(host)
    server = str(host.var("restore_ldap_address") or host.address)
    port = int(host.var("restore_smb_port") or 445)
    root = rf"\\{server}\sysvol\{dns_domain(base_dn)}\Policies"
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sysvol")
    cache: dict[str, Any] = {}
    future = pool.submit(_read_all, server, port, user, password, root, guids, cache, deadline_s)
    try:
        return future.result(timeout=deadline_s)
    except FutureTimeout:
        raise DirectoryError(
            f"{host.name}: SYSVOL read did not finish within {deadline_s:.0f}s"
        ) from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _read_all(
    server: str,
    port: int,
    user: str,
    password: str,
    root: str,
    guids: list[str],
    cache: dict[str, Any],
    deadline_s: float,
) -> list[GpoFolder]:
    import smbclient
    from smbprotocol.exceptions import SMBException

    try:
        smbclient.register_session(
            server,
            username=user,
            password=password,
            port=port,
            connection_timeout=int(deadline_s),
            connection_cache=cache,
            auth_protocol="ntlm",
            require_signing=True,
        )
    except (SMBException, OSError, ValueError) as exc:
        raise DirectoryError(f"SMB to {server}:{port} as {user} failed: {exc}") from None
    budget = [MAX_TOTAL_BYTES]
    try:
        folders = []
        for guid in guids[:MAX_GPOS]:
            if not _GUID.match(guid):
                folders.append(GpoFolder(guid=guid, problems=(f"not a GPO GUID: {raw(guid)}",)))
                continue
            folders.append(_read_folder(rf"{root}\{guid}", guid, cache, budget))
        if len(guids) > MAX_GPOS:
            folders.append(
                GpoFolder(guid="", problems=(f"{len(guids) - MAX_GPOS} more GPOs not read",))
            )
        return folders
    finally:
        smbclient.reset_connection_cache(connection_cache=cache)


def _read_folder(path: str, guid: str, cache: dict[str, Any], budget: list[int]) -> GpoFolder:
    import smbclient
    from smbprotocol.exceptions import SMBException

    files: list[SysvolFile] = []
    problems: list[str] = []
    queue: list[tuple[str, str, int]] = [(path, "", 0)]
    while queue:
        folder, rel, depth = queue.pop(0)
        try:
            entries = list(smbclient.scandir(folder, connection_cache=cache))
        except (SMBException, OSError, ValueError) as exc:
            if not rel and getattr(exc, "errno", None) == errno.ENOENT:
                return GpoFolder(guid=guid, missing=True)
            problems.append(f"{raw(rel or guid)}: cannot list: {raw(str(exc), 200)}")
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            if len(files) >= MAX_FILES:
                problems.append(f"more than {MAX_FILES} entries: the rest was not read")
                return GpoFolder(guid=guid, files=tuple(files), problems=tuple(problems))
            name = f"{rel}/{entry.name}" if rel else entry.name
            try:
                found = _entry(entry, name, cache, budget)
            except (SMBException, OSError, ValueError) as exc:
                problems.append(f"{raw(name)}: cannot read: {raw(str(exc), 200)}")
                continue
            if found is None:  # a folder
                if depth + 1 >= MAX_DEPTH:
                    problems.append(f"{raw(name)}: deeper than {MAX_DEPTH} levels, not read")
                else:
                    queue.append((entry.path, name, depth + 1))
                continue
            files.append(found)
    return GpoFolder(guid=guid, files=tuple(files), problems=tuple(problems))


def _entry(entry: Any, name: str, cache: dict[str, Any], budget: list[int]) -> SysvolFile | None:
    import smbclient

    info = entry.stat(follow_symlinks=False)
    modified = datetime.fromtimestamp(info.st_mtime, UTC)
    if entry.is_symlink():
        try:
            target = smbclient.readlink(entry.path, connection_cache=cache)
        except (OSError, ValueError) as exc:
            target = f"(unreadable: {exc})"
        return SysvolFile(name, "link", int(info.st_size), modified, target=str(target))
    if entry.is_dir(follow_symlinks=False):
        return None
    if not entry.is_file(follow_symlinks=False):
        return SysvolFile(name, "other", int(info.st_size), modified)
    cap = min(MAX_FILE_BYTES, budget[0])
    with smbclient.open_file(entry.path, mode="rb", connection_cache=cache) as handle:
        data = handle.read(cap + 1) if cap > 0 else b""
    truncated = len(data) > cap or (cap == 0 and info.st_size > 0)
    data = data[:cap]
    budget[0] -= len(data)
    return SysvolFile(
        path=name,
        kind="file",
        size=int(info.st_size),
        modified=modified,
        sha256=hashlib.sha256(data).hexdigest(),
        truncated=truncated,
        data=data,
        deployed=describe(name, data) if not truncated else Deployed(),
    )
