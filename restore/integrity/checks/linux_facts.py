"""Linux facts: one small POSIX shell command each, and a pure parser of its output.

Commands only read. They never delete, move or modify anything on the host: the host is
evidence until it is reimaged.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Any

from restore.integrity.checks.catalog import (
    Context,
    Fact,
    FactError,
    Parsed,
    Unaccounted,
    fields,
    lines,
    raw,
    require_rc,
)
from restore.integrity.checks.expected_keys import fingerprint
from restore.integrity.checks.pam_generated import PAM_GENERATED_CMD, parse_pam_generated
from restore.integrity.checks.persistence import (
    catalog_cmd,
    package_files_cmd,
    parse_catalog,
    parse_package_files,
)
from restore.models import CommandOutput


def _existing(paths: tuple[str, ...] | list[str]) -> str:
    """Shell prologue setting "$@" to the paths that exist (find fails on missing ones)."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    return f'set --; for p in {quoted}; do [ -e "$p" ] && set -- "$@" "$p"; done; '


# -- accounts -----------------------------------------------------------------------------------


def parse_passwd(output: CommandOutput) -> Parsed:
    """/etc/passwd read the way glibc's nss_files reads it, not the way it should look.

    glibc skips blank lines and lines starting with '#' (after leading blanks), and accepts
    a line with as few as four fields (``evil:x:0:0`` is a working root account: gecos,
    home and shell default to empty, and an empty shell means /bin/sh). Every line glibc
    would accept is an account here; every line that is not a plain 7-field entry is also
    reported as unaccounted (raw text), so an odd line makes the host suspect, never clean.
    """
    require_rc(output)
    accounts: dict[str, dict[str, Any]] = {}
    odd = Unaccounted()
    for number, line in enumerate(fields(output.stdout, "\n"), 1):
        text = line.lstrip(" \t\f\v\r")
        if not text or text.startswith("#"):
            continue
        where = f"line {number}: {raw(line)}"
        if text.startswith(("+", "-")):  # NIS compat: pulls accounts from elsewhere
            odd.add(f"{where} (NIS compat entry)")
            continue
        parts = text.split(":")
        uid = glibc_id(parts[2]) if len(parts) > 3 else None
        gid = glibc_id(parts[3]) if len(parts) > 3 else None
        if uid is None or gid is None:
            odd.add(f"{where} (not an entry glibc accepts)")
            continue
        if len(parts) != 7:
            odd.add(f"{where} ({len(parts)} fields, not 7)")
        name = parts[0]
        if name in accounts:  # glibc answers the first one; the second is someone's plan
            odd.add(f"{where} (second entry for {raw(name)})")
            if uid != 0:
                continue
            name = f"{name} (line {number})"
        home = parts[5] if len(parts) > 5 else ""
        shell = ":".join(parts[6:]) if len(parts) > 6 else ""
        accounts[name] = {"uid": uid, "home": home, "shell": shell or "/bin/sh"}
    if "root" not in accounts:
        raise FactError("/etc/passwd has no root account: not a readable passwd file")
    return Parsed(accounts, odd.result())


def glibc_id(field: str) -> int | None:
    """A uid/gid field as glibc's strtoul reads it (blanks, sign, decimal), or None."""
    text = field.lstrip(" \t\n\f\v\r")
    sign = -1 if text.startswith("-") else 1
    digits = text[1:] if text[:1] in "+-" and text else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return (sign * int(digits)) % (1 << 32)


def parse_admin_groups(output: CommandOutput) -> Parsed:
    require_rc(output, (0, 1, 2))  # getent: 2 = some group does not exist
    groups: dict[str, list[str]] = {}
    odd = Unaccounted()
    for line in lines(output):
        parts = line.split(":")
        if len(parts) >= 4:
            groups[parts[0]] = sorted(m for m in parts[3].split(",") if m)
        else:
            odd.add(raw(line))
    return Parsed(groups, odd.result())


# -- keys -----------------------------------------------------------------------------------------

_KEY_TYPES = ("ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-")

# Every home of /etc/passwd (short lines included: awk numbers fields as glibc does), root's
# always. Each line is printed through printf, never through sed: a path may hold '|'.
AUTHORIZED_KEYS_CMD = (
    "{ echo /root; awk -F: '$6 != \"\" {print $6}' /etc/passwd; } | sort -u | "
    'while IFS= read -r h; do for f in "$h/.ssh/authorized_keys" "$h/.ssh/authorized_keys2"; do '
    '[ -f "$f" ] && while IFS= read -r l || [ -n "$l" ]; do printf \'%s\\t%s\\n\' "$f" "$l"; '
    'done < "$f"; done; done; true'
)


def parse_authorized_keys(output: CommandOutput) -> Parsed:
    """'path fingerprint' -> comment, fingerprints as ssh-keygen prints them (SHA256:...).

    A line with no key type in it is not a key sshd would use, and not one we understand:
    unaccounted for, with its raw text.
    """
    require_rc(output)
    keys: dict[str, str] = {}
    odd = Unaccounted()
    for line in lines(output):
        path, _, entry = line.partition("\t")
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        words = entry.split()
        for i, word in enumerate(words[:-1]):
            if word.startswith(_KEY_TYPES):
                blob = words[i + 1]
                # not a canonical key blob: still tell two such keys apart
                fp = fingerprint(blob) or (
                    "text-sha256:" + hashlib.sha256(blob.encode()).hexdigest()[:43]
                )
                keys[f"{path} {word} {fp}"] = " ".join(words[i + 2 :])
                break
        else:
            odd.add(raw(line))
    return Parsed(keys, odd.result())


# -- hashed trees (SUID files, and with a baseline the critical binaries) ----------------------


def hash_tree_cmd(paths: tuple[str, ...] | list[str]) -> str:
    """NUL-terminated records: symlinks as 'L' NUL path NUL target NUL, regular files as
    ``sha256sum -z`` records ('hash  path' NUL: with -z, names are written as they are).

    One sha256sum at a time: parallel ones (xargs -P) share the pipe, and a record that
    straddles two of their buffered writes gets another's output spliced into it.
    """
    return (
        _existing(paths) + "[ $# -gt 0 ] || exit 0; "
        "find \"$@\" -xdev -type l -printf 'L\\0%p\\0%l\\0' 2>/dev/null; "
        'find "$@" -xdev -type f -print0 2>/dev/null | xargs -0 -r sha256sum -z; true'
    )


_HEX = frozenset("0123456789abcdef")


def parse_hash_tree(output: CommandOutput) -> Parsed:
    """{path: sha256 | 'link:TARGET'} from NUL-terminated records; a name may hold newlines.

    Anything else (a field that is neither a link nor a hash record, a record the host cut
    short or left unterminated) is unaccounted for, with its raw text.
    """
    require_rc(output)
    tree: dict[str, str] = {}
    odd = Unaccounted()
    text = output.stdout
    end = text.rfind("\0") + 1
    stream = fields(text[: end - 1]) if end else iter(())
    for field in stream:
        if field == "L":
            path, target = next(stream, None), next(stream, None)
            if path is None or target is None or not path.startswith("/"):
                odd.add(f"link record cut short: {raw(path or '')}")
                continue
            tree[path] = "link:" + target
            continue
        digest, sep, path = field.partition("  ")
        if sep and len(digest) == 64 and _HEX.issuperset(digest) and path.startswith("/"):
            tree[path] = digest
        elif field.strip():
            odd.add(raw(field))
    if text[end:].strip():
        odd.add(f"unterminated record: {raw(text[end:])}")
    return Parsed(tree, odd.result())


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
    "| xargs -0 -r sha256sum -z; true"
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


def parse_package_verify(output: CommandOutput) -> Parsed:
    """dpkg --verify / rpm -Va lines -> [{path, digest_changed, missing, config}]."""
    require_rc(output)
    rows = lines(output)
    if rows == ["NO-PACKAGE-MANAGER"]:
        raise FactError("neither dpkg nor rpm found")
    result = []
    odd = Unaccounted()
    for line in rows:
        flags, _, rest = line.partition(" ")
        rest = rest.strip()
        attr = ""
        if rest[:2] in {"c ", "d ", "g ", "l ", "r "}:
            attr, rest = rest[0], rest[2:].strip()
        if not rest.startswith("/"):
            odd.add(raw(line))
            continue
        result.append(
            {
                "path": rest,
                "missing": flags == "missing",
                "digest_changed": len(flags) >= 3 and flags[2] == "5",
                "config": attr == "c",
            }
        )
    return Parsed(result, odd.result())


# -- ransom traces, recent changes -------------------------------------------------------------


def ransom_cmd(ctx: Context) -> str:
    terms = " -o ".join(f"-iname '{g}'" for g in ctx.indicators.globs())
    return (
        _existing(ctx.data_paths) + "[ $# -gt 0 ] || exit 0; "
        f"find \"$@\" -xdev -type f \\( {terms} \\) -printf '%s\\t%p\\0' 2>/dev/null "
        "| head -z -n 10000; true"
    )


def parse_sized_paths(output: CommandOutput) -> Parsed:
    """NUL-separated 'size<TAB>path' records (a name may hold a newline)."""
    require_rc(output)
    files = []
    odd = Unaccounted()
    for record in fields(output.stdout):
        size, _, path = record.partition("\t")
        if size.isdigit() and path.startswith("/"):
            files.append({"path": path, "size": int(size)})
        elif record.strip():
            odd.add(raw(record))
    return Parsed(files, odd.result())


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
        f"find \"$@\" -xdev -type f -newermt @{epoch} -printf '%s\\t%p\\0' 2>/dev/null "
        "| head -z -n 10000; true"
    )


FACTS = (
    Fact("accounts", lambda ctx: "cat /etc/passwd", parse_passwd),
    Fact(
        "admin_groups",
        lambda ctx: "getent group sudo wheel admin; rc=$?; [ $rc -le 2 ] || exit $rc",
        parse_admin_groups,
    ),
    Fact("authorized_keys", lambda ctx: AUTHORIZED_KEYS_CMD, parse_authorized_keys),
    Fact("persistence", lambda ctx: catalog_cmd(), parse_catalog),
    Fact(
        "package_files",
        lambda ctx: package_files_cmd(),
        parse_package_files,
        in_baseline=False,
        wanted=lambda ctx, has_baseline: not has_baseline,
    ),
    Fact(
        "pam_generated",
        lambda ctx: PAM_GENERATED_CMD,
        parse_pam_generated,
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
        lambda ctx: hash_tree_cmd(ctx.hash_paths),
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
