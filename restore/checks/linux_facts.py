"""Linux facts: one small POSIX shell command each, and a pure parser of its output.

Commands only read. They never delete, move or modify anything on the host: the host is
evidence until it is reimaged.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from typing import Any

from restore.checks.catalog import Context, Fact, FactError, lines, require_rc
from restore.models import CommandOutput


def _existing(paths: tuple[str, ...] | list[str]) -> str:
    """Shell prologue setting "$@" to the paths that exist (find fails on missing ones)."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    return f'set --; for p in {quoted}; do [ -e "$p" ] && set -- "$@" "$p"; done; '


# -- accounts -----------------------------------------------------------------------------------


def parse_passwd(output: CommandOutput) -> dict[str, dict[str, Any]]:
    require_rc(output)
    accounts: dict[str, dict[str, Any]] = {}
    for line in lines(output):
        parts = line.split(":")
        if len(parts) < 7 or line.startswith(("#", "+", "-")):
            continue
        try:
            uid = int(parts[2])
        except ValueError:
            continue
        accounts[parts[0]] = {"uid": uid, "home": parts[5], "shell": parts[6]}
    if "root" not in accounts:
        raise FactError("/etc/passwd has no root account: not a readable passwd file")
    return accounts


def uid_as_glibc(field: str) -> int | None:
    """A passwd UID field as glibc's nss_files reads it: strtoul, then cut to 32 bits.

    So "4294967296" and " +0" are UID 0 to the system, whatever a stricter reader thinks.
    """
    text = field.lstrip(" \t\n\v\f\r")
    sign = -1 if text.startswith("-") else 1
    digits = text[1:] if text[:1] in "+-" else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return (sign * int(digits)) % (1 << 32)


def passwd_from_bytes(data: bytes) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A passwd file's accounts (as glibc reads them) and the lines glibc would not read.

    For files read from elsewhere than a live host (a backup snapshot); comments are lines
    whose first non-blank character is '#', as in glibc.
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


def parse_admin_groups(output: CommandOutput) -> dict[str, list[str]]:
    require_rc(output, (0, 1, 2))  # getent: 2 = some group does not exist
    groups: dict[str, list[str]] = {}
    for line in lines(output):
        parts = line.split(":")
        if len(parts) >= 4:
            groups[parts[0]] = sorted(m for m in parts[3].split(",") if m)
    return groups


# -- keys -----------------------------------------------------------------------------------------

_KEY_TYPES = ("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")

AUTHORIZED_KEYS_CMD = (
    "{ echo /root; awk -F: '$6 != \"\" {print $6}' /etc/passwd; } | sort -u | "
    'while IFS= read -r h; do for f in "$h/.ssh/authorized_keys" "$h/.ssh/authorized_keys2"; do '
    '[ -f "$f" ] && sed -e \'/^[[:space:]]*#/d\' -e \'/^[[:space:]]*$/d\' -e "s|^|$f\t|" "$f"; '
    "done; done; true"
)


def parse_authorized_keys(output: CommandOutput) -> dict[str, str]:
    """'path fingerprint' -> comment, fingerprints as ssh-keygen prints them (SHA256:...)."""
    require_rc(output)
    keys: dict[str, str] = {}
    for line in lines(output):
        path, _, entry = line.partition("\t")
        words = entry.split()
        for i, word in enumerate(words[:-1]):
            if word.startswith(_KEY_TYPES):
                blob = words[i + 1]
                try:
                    raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
                except ValueError:
                    raw = b""
                if raw and base64.b64encode(raw).decode().rstrip("=") == blob.rstrip("="):
                    fp = "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode()
                    fp = fp.rstrip("=")
                else:  # not a canonical key blob: still tell two such keys apart
                    fp = "text-sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:43]
                keys[f"{path} {word} {fp}"] = " ".join(words[i + 2 :])
                break
    return keys


def authorized_keys_from_bytes(path: str, data: bytes) -> tuple[dict[str, str], list[str]]:
    """One authorized_keys file's keys (as parse_authorized_keys gives them) and the
    non-comment lines that hold no key it could read."""
    keys: dict[str, str] = {}
    odd: list[str] = []
    for line in data.decode("utf-8", "replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = parse_authorized_keys(CommandOutput(rc=0, stdout=f"{path}\t{line}\n"))
        if found:
            keys.update(found)
        else:
            odd.append(line)
    return keys, odd


# -- persistence: cron, timers, systemd units, init scripts -------------------------------------

PERSISTENCE_PATHS = (
    "/etc/crontab",
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/var/spool/cron",
    "/etc/systemd/system",
    "/run/systemd/system",
    "/etc/systemd/user",
    "/usr/lib/systemd/system",
    "/etc/rc.local",
    "/etc/init.d",
    "/etc/profile.d",
)
# Files an intruder adds (package-owned ones live in these same directories).
ADDED_BY_ADMIN_PATHS = (
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/var/spool/cron",
    "/etc/systemd/system",
    "/etc/profile.d",
    "/etc/init.d",
)


def hash_tree_cmd(paths: tuple[str, ...] | list[str], parallel: bool = False) -> str:
    """Symlinks as 'L<TAB>path<TAB>target', regular files as sha256sum lines."""
    xargs = 'xargs -0 -r -n 64 -P "$(nproc 2>/dev/null || echo 1)"' if parallel else "xargs -0 -r"
    return (
        _existing(paths) + "[ $# -gt 0 ] || exit 0; "
        "find \"$@\" -xdev -type l -printf 'L\\t%p\\t%l\\n' 2>/dev/null; "
        f'find "$@" -xdev -type f -print0 2>/dev/null | {xargs} sha256sum; true'
    )


def parse_hash_tree(output: CommandOutput) -> dict[str, str]:
    require_rc(output)
    tree: dict[str, str] = {}
    for line in lines(output):
        if line.startswith("L\t"):
            _, path, target = [*line.split("\t", 2), ""][:3]
            tree[path] = "link:" + target
            continue
        digest, _, path = line.partition("  ")
        if len(digest) == 64 and path:
            tree[path] = digest
        elif line.startswith("\\") and len(digest) == 65:  # sha256sum escapes odd names
            tree[path] = digest[1:]
    return tree


UNOWNED_CMD = (
    _existing(ADDED_BY_ADMIN_PATHS) + "[ $# -gt 0 ] || exit 0; "
    'set -- $(find "$@" -xdev -type f 2>/dev/null); [ $# -gt 0 ] || exit 0; '
    "if command -v dpkg-query >/dev/null 2>&1; then "
    'dpkg-query -S "$@" 2>&1 >/dev/null '
    "| sed -n 's/^dpkg-query: no path found matching pattern //p'; "
    "elif command -v rpm >/dev/null 2>&1; then "
    'for f in "$@"; do rpm -qf "$f" >/dev/null 2>&1 || echo "$f"; done; fi; true'
)


def parse_paths(output: CommandOutput) -> list[str]:
    require_rc(output)
    return sorted(set(lines(output)))


# -- loader, kernel ----------------------------------------------------------------------------

PRELOAD_CMD = (
    "if [ -e /etc/ld.so.preload ]; then echo PRESENT; cat /etc/ld.so.preload; else echo ABSENT; fi"
)


def parse_preload(output: CommandOutput) -> dict[str, Any]:
    require_rc(output)
    rows = lines(output)
    if not rows or rows[0] not in {"PRESENT", "ABSENT"}:
        raise FactError("unexpected output reading /etc/ld.so.preload")
    entries = [e for r in rows[1:] for e in r.split() if not r.lstrip().startswith("#")]
    return {"present": rows[0] == "PRESENT", "entries": entries}


def preload_from_bytes(data: bytes) -> dict[str, Any]:
    """An /etc/ld.so.preload file's content, parsed as parse_preload does on a host."""
    text = data.decode("utf-8", "replace")
    return parse_preload(CommandOutput(rc=0, stdout="PRESENT\n" + text))


MODULES_CMD = "if [ -e /proc/modules ]; then cat /proc/modules; else echo NO-MODULES; fi"


def parse_modules(output: CommandOutput) -> list[str]:
    """Loaded module names; a kernel built without module support has none to hide in."""
    require_rc(output)
    rows = lines(output)
    if rows == ["NO-MODULES"]:
        return []
    return sorted({line.split()[0] for line in rows})


# -- SUID, ports ---------------------------------------------------------------------------------

SUID_CMD = (
    "find / -xdev \\( -perm -4000 -o -perm -2000 \\) -type f -print0 2>/dev/null "
    "| xargs -0 -r sha256sum; true"
)

PORTS_CMD = "ss -Hltnup 2>/dev/null"


def parse_ports(output: CommandOutput) -> dict[str, str]:
    """'proto address:port' -> process name, for sockets owned by a process on this host.

    Sockets whose owner is not visible (a process outside this host's PID namespace, as for
    lab hosts sharing the machine's network) are not this host's, so they are left out.
    """
    require_rc(output)
    ports: dict[str, str] = {}
    for line in lines(output):
        words = line.split()
        if len(words) < 6 or "users:((" not in line:
            continue
        proto, local = words[0], words[4]
        process = line.split('users:(("', 1)[1].split('"', 1)[0]
        ports[f"{proto} {local}"] = process
    return ports


# -- packages -------------------------------------------------------------------------------------

PACKAGES_CMD = (
    "if command -v dpkg >/dev/null 2>&1; then dpkg --verify 2>/dev/null; "
    "elif command -v rpm >/dev/null 2>&1; then rpm -Va 2>/dev/null; "
    "else echo 'NO-PACKAGE-MANAGER'; fi; true"
)


def parse_package_verify(output: CommandOutput) -> list[dict[str, Any]]:
    """dpkg --verify / rpm -Va lines -> [{path, digest_changed, missing, config}]."""
    require_rc(output)
    rows = lines(output)
    if rows == ["NO-PACKAGE-MANAGER"]:
        raise FactError("neither dpkg nor rpm found")
    result = []
    for line in rows:
        flags, _, rest = line.partition(" ")
        rest = rest.strip()
        attr = ""
        if rest[:2] in {"c ", "d ", "g ", "l ", "r "}:
            attr, rest = rest[0], rest[2:].strip()
        if not rest.startswith("/"):
            continue
        result.append(
            {
                "path": rest,
                "missing": flags == "missing",
                "digest_changed": len(flags) >= 3 and flags[2] == "5",
                "config": attr == "c",
            }
        )
    return result


# -- ransom traces, recent changes -------------------------------------------------------------


def ransom_cmd(ctx: Context) -> str:
    terms = " -o ".join(f"-iname '{g}'" for g in ctx.indicators.globs())
    return (
        _existing(ctx.data_paths) + "[ $# -gt 0 ] || exit 0; "
        f"find \"$@\" -xdev -type f \\( {terms} \\) -printf '%s\\t%p\\n' 2>/dev/null "
        "| head -n 10000; true"
    )


def parse_sized_paths(output: CommandOutput) -> list[dict[str, Any]]:
    require_rc(output)
    files = []
    for line in lines(output):
        size, _, path = line.partition("\t")
        if size.isdigit() and path:
            files.append({"path": path, "size": int(size)})
    return files


CHANGED_PATHS = (
    "/etc",
    "/usr",
    "/opt",
    "/srv",
    "/root",
    "/home",
    "/boot",
    "/var/spool/cron",
    "/var/www",
)


def changed_cmd(ctx: Context) -> str:
    epoch = int(ctx.since.timestamp()) if ctx.since else 0
    return (
        _existing(CHANGED_PATHS + ctx.data_paths) + "[ $# -gt 0 ] || exit 0; "
        f"find \"$@\" -xdev -type f -newermt @{epoch} -printf '%s\\t%p\\n' 2>/dev/null "
        "| head -n 10000; true"
    )


FACTS = (
    Fact("accounts", lambda ctx: "cat /etc/passwd", parse_passwd),
    Fact(
        "admin_groups",
        lambda ctx: "getent group sudo wheel admin; rc=$?; [ $rc -le 2 ] || exit $rc",
        parse_admin_groups,
    ),
    Fact("authorized_keys", lambda ctx: AUTHORIZED_KEYS_CMD, parse_authorized_keys),
    Fact("persistence", lambda ctx: hash_tree_cmd(PERSISTENCE_PATHS), parse_hash_tree),
    Fact(
        "unowned_persistence",
        lambda ctx: UNOWNED_CMD,
        parse_paths,
        in_baseline=False,
        wanted=lambda ctx, has_baseline: not has_baseline,
    ),
    Fact("preload", lambda ctx: PRELOAD_CMD, parse_preload),
    Fact("modules", lambda ctx: MODULES_CMD, parse_modules),
    Fact("suid", lambda ctx: SUID_CMD, parse_hash_tree),
    Fact("ports", lambda ctx: PORTS_CMD, parse_ports),
    Fact("packages", lambda ctx: PACKAGES_CMD, parse_package_verify, in_baseline=False),
    Fact(
        "hashes",
        lambda ctx: hash_tree_cmd(ctx.hash_paths, parallel=True),
        parse_hash_tree,
        wanted=lambda ctx, has_baseline: has_baseline,
    ),
    Fact("ransom_files", ransom_cmd, parse_sized_paths, in_baseline=False),
    Fact(
        "changed_files",
        changed_cmd,
        parse_sized_paths,
        in_baseline=False,
        wanted=lambda ctx, has_baseline: ctx.since is not None,
    ),
)
