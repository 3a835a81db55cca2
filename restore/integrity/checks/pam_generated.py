"""Debian's generated PAM stacks, judged without a baseline against what the packages ship.

``/etc/pam.d/common-{auth,account,password,session,session-noninteractive}`` belong to no
package: ``pam-auth-update`` writes them from a template (``/usr/share/pam/common-*``) and
the profiles of ``/usr/share/pam-configs``, all shipped by packages. So each file is judged
as pam-auth-update itself would: outside its two generated blocks the file must be the
template (or a boilerplate whose md5 the template's ``.md5sums`` lists); inside them every
line must come from a profile. A template, md5 list or profile counts only when its md5 is
the one dpkg recorded for it: a profile an intruder dropped in, or edited, explains nothing.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from restore.integrity.checks.catalog import Parsed, Unaccounted, fields, raw, require_rc
from restore.models import CommandOutput

TYPES = ("account", "auth", "password", "session", "session-noninteractive")
PROFILES = "/usr/share/pam-configs/"
TEMPLATES = "/usr/share/pam/common-"

# Every file as a record 'F' NUL path NUL content NUL; then 'D' NUL dpkg's md5 lines NUL.
# Only regular files are read (a FIFO would block). A NUL inside a file breaks the
# framing, which the parser reports as unaccounted: suspect, never clean.
PAM_GENERATED_CMD = (
    'show() { [ -f "$1" ] && { printf \'F\\0%s\\0\' "$1"; cat -- "$1"; printf \'\\0\'; }; }; '
    "for t in " + " ".join(TYPES) + "; do "
    f'show "/etc/pam.d/common-$t"; show "{TEMPLATES}$t"; show "{TEMPLATES}$t.md5sums"; done; '
    f'for f in {PROFILES}*; do show "$f"; done; '
    "printf 'D\\0'; grep -h -E '  usr/share/pam(-configs)?/' /var/lib/dpkg/info/*.md5sums "
    "2>/dev/null; printf '\\0'; true"
)


def parse_pam_generated(output: CommandOutput) -> Parsed:
    """{"files": {path: text}, "dpkg_md5": {path: md5}}."""
    require_rc(output)
    files: dict[str, str] = {}
    dpkg_md5: dict[str, str] = {}
    odd = Unaccounted()
    stream = fields(output.stdout)
    for tag in stream:
        if tag == "F":
            path, text = next(stream, ""), next(stream, "")
            files[path] = text
        elif tag == "D":
            for line in next(stream, "").splitlines():
                digest, _, path = line.partition("  ")
                if len(digest) == 32 and path.startswith("usr/share/pam"):
                    dpkg_md5["/" + path] = digest
                elif line.strip():
                    odd.add(raw(line))
        elif tag:
            odd.add(raw(tag))
    return Parsed({"files": files, "dpkg_md5": dpkg_md5}, odd.result())


def pam_unexplained(fact: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, why) for each generated PAM file that its packages do not explain."""
    files: dict[str, str] = fact["files"]
    dpkg_md5: dict[str, str] = fact["dpkg_md5"]

    def shipped(path: str) -> str | None:
        text = files.get(path)
        return text if text is not None and _md5(text) == dpkg_md5.get(path) else None

    profiles = [
        _parse_profile(text)
        for path in sorted(files)
        if path.startswith(PROFILES) and (text := shipped(path)) is not None
    ]
    found = []
    for kind in TYPES:
        path = f"/etc/pam.d/common-{kind}"
        if path not in files:
            continue
        boilerplate, generated = split_blocks(files[path])
        template = shipped(TEMPLATES + kind)
        known = shipped(TEMPLATES + kind + ".md5sums") or ""
        if not (
            (template is not None and split_blocks(template)[0] == boilerplate)
            or _md5(boilerplate) in {line.split()[0] for line in known.splitlines() if line.strip()}
        ):
            found.append(
                (path, "differs, outside its generated blocks, from the template its package ships")
            )
        allowed = _allowed_lines(kind, profiles)
        for line in generated:
            if line.strip() and not line.lstrip().startswith("#") and _key(line) not in allowed:
                found.append((path, f"a line no PAM profile of a package explains: {raw(line)}"))
    return found


_MARKERS = (
    '# here are the per-package modules (the "Primary" block)',
    "# here's the fallback if no module succeeds",
    '# and here are more per-package modules (the "Additional" block)',
    "# end of pam-auth-update config",
)


def split_blocks(text: str) -> tuple[str, list[str]]:
    """(the file without its generated lines, the generated lines), as pam-auth-update reads
    it: the Primary block runs from its marker to the fallback marker, the Additional block
    from its marker to the end marker."""
    kept: list[str] = []
    generated: list[str] = []
    state = 0
    for line in text.splitlines(keepends=True):
        if state in (1, 3):
            if line.startswith(_MARKERS[state]):
                kept.append(line)
                state += 1
            else:
                generated.append(line.rstrip("\n"))
            continue
        kept.append(line)
        if state in (0, 2) and line.startswith(_MARKERS[state]):
            state += 1
    return "".join(kept), generated


def _parse_profile(text: str) -> dict[str, str]:
    """A pam-configs profile: 'Field: value' lines, indented continuation lines."""
    profile: dict[str, str] = {}
    name = ""
    for line in text.splitlines():
        field = re.match(r"^(\S+):\s*(.*?)\s*$", line)
        if field and not line[:1].isspace():
            name = field.group(1).removesuffix("-Final")
            profile[name] = field.group(2)
        elif name and line.strip():
            profile[name] = (profile[name] + "\n" + line.strip()).lstrip("\n")
    return profile


def _allowed_lines(kind: str, profiles: list[dict[str, str]]) -> set[tuple[str, ...]]:
    base = kind.removesuffix("-noninteractive")
    field = base.capitalize()
    allowed = {_key(f"{base} [default=1] pam_permit.so")}  # stock line for an empty block
    for profile in profiles:
        if kind != base and "Session-Interactive-Only" in profile:
            continue
        for name in (field, f"{field}-Initial"):
            for line in profile.get(name, "").splitlines():
                allowed.add(_key(f"{base} {line}"))
    return allowed


_CONTROL = re.compile(r"^(\S+)\s+(\[[^]]*\]|\S+)\s+(\S+)\s*(.*)$")


def _key(line: str) -> tuple[str, ...]:
    """A module line with the jump counts pam-auth-update computes (``end`` -> N) made equal."""
    match = _CONTROL.match(line.strip())
    if not match:
        return (line.strip(),)
    kind, control, module, options = match.groups()
    modline = re.sub(r"end|\d+", "#", " ".join(control.split()) + " " + module)
    return (kind, modline, *options.split())


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8", "backslashreplace"), usedforsecurity=False).hexdigest()
