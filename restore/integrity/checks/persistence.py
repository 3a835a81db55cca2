"""The Linux persistence catalog: every place that makes a program run again, as data.

One command lists, NUL-separated, every entry under the places intruders persist: cron in
all its forms, systemd units, timers, generators and their ``*.wants`` links, init scripts,
``ld.so.preload``, shell start-up files (system-wide and in every home named by
/etc/passwd, root's included), PAM configuration and modules, sudoers, the
``authorized_keys`` of every home, motd and udev hooks. Each entry is recorded by type:
a regular file by its sha256 (hashed by ``sha256sum -z``: names are bytes, never split or
globbed), a symlink by its target and the type of what it points to, a FIFO, socket or
device as such (never opened). The catalog goes into baselines; without a baseline each
entry is judged against what the package manager installed (``package_files``).
"""

from __future__ import annotations

import posixpath
import shlex
from typing import Any

from restore.integrity.checks.catalog import FactError, Parsed, Unaccounted, fields, raw, require_rc
from restore.models import CommandOutput

ROOTS = (
    "/etc/crontab",
    "/etc/anacrontab",
    "/etc/cron.d",
    "/etc/cron.hourly",
    "/etc/cron.daily",
    "/etc/cron.weekly",
    "/etc/cron.monthly",
    "/etc/cron.yearly",
    "/var/spool/cron",
    "/etc/systemd/system",
    "/etc/systemd/user",
    "/etc/systemd/system-generators",
    "/etc/systemd/user-generators",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/usr/lib/systemd/user",
    "/usr/lib/systemd/system-generators",
    "/usr/local/lib/systemd/system",
    "/usr/local/lib/systemd/system-generators",
    "/etc/rc.local",
    "/etc/init.d",
    "/etc/ld.so.preload",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/bash.bashrc",
    "/etc/environment",
    "/etc/pam.d",
    "/etc/security",
    "/lib/security",
    "/usr/lib/security",
    "/usr/lib64/security",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/update-motd.d",
    "/etc/udev/rules.d",
    "/etc/skel",
    "/usr/share/base-files",
)
# Globbed on the host (a fixed pattern of ours; what it finds is passed as data).
ROOT_GLOBS = ("/etc/rc[0-6S].d", "/usr/lib/*/security")
# In each home named by /etc/passwd.
HOME_FILES = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".ssh/rc",
    ".ssh/authorized_keys",
    ".ssh/authorized_keys2",
)
# Pristine copies that maintainer scripts copy into place (/etc/profile, ~/.bashrc...):
# an unowned file equal to one of these package-owned files is explained.
SKELETONS = ("/etc/skel", "/usr/share/base-files")
# Written by a package's tool rather than shipped: not "installed by no package" here, their
# content is judged against the template and profiles they come from (pam_generated).
GENERATED = frozenset(
    f"/etc/pam.d/common-{name}"
    for name in ("account", "auth", "password", "session", "session-noninteractive")
)
_EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_FIND_TYPES = r"\( -type f -o -type l -o -type p -o -type s -o -type b -o -type c \)"


def _roots_function() -> str:
    fixed = " ".join(shlex.quote(p) for p in ROOTS)
    globs = " ".join(ROOT_GLOBS)
    homes = " ".join(shlex.quote(f) for f in HOME_FILES)
    # `read` splits only on ':', a short passwd line leaves the home empty; only absolute
    # homes (a name starting with '-' would be an option to find).
    return (
        "roots() { "
        f"for p in {fixed} {globs}; do "
        '[ -e "$p" ] || [ -L "$p" ] && printf \'%s\\0\' "$p"; done; '
        "while IFS=: read -r _ _ _ _ _ h _; do case $h in /*) "
        f"for f in {homes}; do printf '%s\\0' \"$h/$f\"; done;; esac; "
        "done < /etc/passwd; }; "
    )


def catalog_cmd() -> str:
    each = "sh -c 'exec find \"$@\" -xdev {expr}' sh"
    listing = each.format(expr=_FIND_TYPES + ' -printf "E\\\\0%y\\\\0%Y\\\\0%p\\\\0%l\\\\0"')
    regular = each.format(expr="-type f -print0")
    return (
        _roots_function()
        + f"roots | xargs -0 -r {listing} 2>/dev/null; "
        + f"roots | xargs -0 -r {regular} 2>/dev/null | xargs -0 -r sha256sum -z 2>/dev/null; "
        "true"
    )


def parse_catalog(output: CommandOutput) -> Parsed:
    """{path: 'sha256' | 'link:TARGET' | 'link:TARGET -> special:T' | 'special:T'}."""
    require_rc(output)
    entries: dict[str, dict[str, str]] = {}
    digests: dict[str, str] = {}
    odd = Unaccounted()
    stream = fields(output.stdout)
    for field in stream:
        if field == "E":
            record = [next(stream, "") for _ in range(4)]
            kind, target_kind, path, target = record
            entries[path] = {"type": kind, "target_type": target_kind, "target": target}
            continue
        digest, sep, path = field.partition("  ")
        if sep and len(digest) == 64 and path.startswith("/"):
            digests[path] = digest
        elif field:
            odd.add(raw(field))
    catalog: dict[str, str] = {}
    for path, entry in entries.items():
        kind = entry["type"]
        if kind == "f":
            catalog[path] = digests.get(path, "unhashed")
        elif kind == "l":
            pointed = entry["target_type"]
            suffix = f" -> special:{pointed}" if pointed in {"p", "s", "b", "c"} else ""
            catalog[path] = f"link:{entry['target']}{suffix}"
        else:
            catalog[path] = f"special:{kind}"
    return Parsed(catalog, odd.result())


PACKAGE_PREFIXES = r"^/(etc/|(usr/)?lib/(systemd/|security/|[^/]*/security/)|usr/share/base-files/)"


def package_files_cmd() -> str:
    grep = f"grep -E {shlex.quote(PACKAGE_PREFIXES)}"
    return (
        "if [ -d /var/lib/dpkg/info ]; then echo DPKG; "
        f"{grep} -h -- /var/lib/dpkg/info/*.list; "
        f"elif command -v rpm >/dev/null 2>&1; then echo RPM; rpm -qal | {grep}; "
        "else echo NO-PACKAGE-MANAGER; fi; true"
    )


def parse_package_files(output: CommandOutput) -> list[str]:
    require_rc(output)
    rows = fields(output.stdout, "\n")
    if next(rows, "") not in {"DPKG", "RPM"}:
        raise FactError("neither dpkg nor rpm: cannot tell what a package installed")
    return sorted({r for r in rows if r.startswith("/")})


# -- judging the catalog without a baseline -------------------------------------------------

_KEY_FILES = (".ssh/authorized_keys", ".ssh/authorized_keys2")


def unexplained(catalog: dict[str, str], package_files: list[str]) -> list[tuple[str, str]]:
    """Entries no package explains: (path, why)."""
    owned = set()
    for path in package_files:
        owned.add(path)
        owned.add(_merged(path))
    skeleton = {
        value
        for path, value in catalog.items()
        if path.startswith(tuple(s + "/" for s in SKELETONS)) and path in owned
    }
    found = []
    for path, value in sorted(catalog.items()):
        reason = _why(path, value, owned, skeleton)
        if reason:
            found.append((path, reason))
    return found


def _why(path: str, value: str, owned: set[str], skeleton: set[str]) -> str | None:
    if value.startswith("special:"):
        return f"a {_KIND.get(value[8:], 'special file')}, where only files belong"
    if value.startswith("link:"):
        target, _, special = value[5:].partition(" -> special:")
        if target == "/dev/null":  # a masked unit
            return None
        if special:
            return f"a link to a {_KIND.get(special, 'special file')}: {raw(target)}"
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if resolved in owned or _merged(resolved) in owned:
            return None
        return f"a link to {raw(target)}, which no package installed"
    if path in owned or _merged(path) in owned:
        return None
    if path.endswith(_KEY_FILES):
        return None  # keys are judged by the authorized_keys check
    if value in skeleton or value == _EMPTY_SHA256 or path in GENERATED:
        return None  # a pristine copy, an empty file (runs nothing), or tool-generated
    return "installed by no package"


_KIND = {"p": "FIFO", "s": "socket", "b": "block device", "c": "character device"}


def _merged(path: str) -> str:
    """The same file through merged /usr: /lib/x <-> /usr/lib/x."""
    for short in ("/lib/", "/bin/", "/sbin/", "/lib64/"):
        if path.startswith(short):
            return "/usr" + path
        if path.startswith("/usr" + short):
            return path[4:]
    return path


def catalog_summary(catalog: dict[str, Any]) -> str:
    links = sum(1 for v in catalog.values() if str(v).startswith("link:"))
    return f"{len(catalog)} entries ({links} links)"
