"""Real Windows registry hives, made on this machine without Windows, for the scan's tests.

The base is the smallest hive the published regf format allows (a base block, one hive bin
holding the root key, its security cell and free space); hivex (libhivex-bin's
`hivexregedit`, an implementation independent of the scan's reader) then writes the keys
and values from a .reg text, as it would into a hive copied off a Windows disk.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

_BLOCK = 4096
_ROOT_AT = 0x20  # the root key's cell, relative to the first hive bin
_KEY_HIVE_ENTRY, _KEY_NO_DELETE, _KEY_COMP_NAME = 0x4, 0x8, 0x20
_NONE = 0xFFFFFFFF


def _cell(payload: bytes) -> bytes:
    size = (len(payload) + 4 + 7) // 8 * 8
    return struct.pack("<i", -size) + payload.ljust(size - 4, b"\0")


def minimal_hive(name: str = "SOFTWARE") -> bytes:
    """A valid, empty hive: a root key with no subkeys and no values."""
    root_name = b"ROOT"
    nk_size = len(_cell(b"\0" * (0x4C + len(root_name))))
    sk_at = _ROOT_AT + nk_size
    descriptor = struct.pack("<BBHIIII", 1, 0, 0x8000, 0, 0, 0, 0)  # self-relative, no ACLs
    nk = struct.pack(
        "<2sHQIIIIIIIIIIIIIIIHH",
        b"nk",
        _KEY_HIVE_ENTRY | _KEY_NO_DELETE | _KEY_COMP_NAME,
        0,  # last written
        0,  # access bits
        _NONE,  # parent (none for the root)
        0,  # subkeys
        0,  # volatile subkeys
        _NONE,  # subkey list
        _NONE,  # volatile subkey list
        0,  # values
        _NONE,  # value list
        sk_at,  # security
        _NONE,  # class name
        0,
        0,
        0,
        0,
        0,  # largest subkey name, class, value name, value data; work var
        len(root_name),
        0,
    )
    sk = struct.pack("<2sHIIII", b"sk", 0, sk_at, sk_at, 1, len(descriptor)) + descriptor
    cells = _cell(nk + root_name) + _cell(sk)
    header = struct.pack("<4sIIQQ4s", b"hbin", 0, _BLOCK, 0, 0, b"\0" * 4)
    free = _BLOCK - len(header) - len(cells)
    hbin = header + cells + struct.pack("<i", free) + b"\0" * (free - 4)
    base = bytearray(_BLOCK)
    struct.pack_into("<4sIIQIIIIIII", base, 0, b"regf", 1, 1, 0, 1, 5, 0, 1, _ROOT_AT, _BLOCK, 1)
    encoded = name.encode("utf-16-le")[:64]
    base[0x30 : 0x30 + len(encoded)] = encoded
    checksum = 0
    for (word,) in struct.iter_unpack("<I", bytes(base[:0x1FC])):
        checksum ^= word
    struct.pack_into("<I", base, 0x1FC, checksum)
    return bytes(base) + hbin


def _reg_string(text: str) -> str:
    # a .reg string literal: hivexregedit reads backslash escapes inside the quotes
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reg_sz(text: str) -> str:
    # REG_SZ as hex(1): any character, a newline too, reaches the hive as Windows stores it
    data = (text + "\0").encode("utf-16-le", "surrogatepass")
    return "hex(1):" + ",".join(f"{byte:02x}" for byte in data)


def write_hive(path: Path, keys: dict[str, dict[str, str]], name: str = "SOFTWARE") -> None:
    """Write a hive at ``path`` holding ``keys``: key path (from the hive's root, parts
    separated by backslashes) -> string values (REG_SZ) by name. Parent keys are made too."""
    prefix = "HKEY_LOCAL_MACHINE\\HIVE"
    sections: dict[str, dict[str, str]] = {}
    for key, values in keys.items():
        parts = key.split("\\")
        for depth in range(1, len(parts)):
            sections.setdefault("\\".join(parts[:depth]), {})
        sections.setdefault(key, {}).update(values)
    text = "Windows Registry Editor Version 5.00\n\n"
    for key in sorted(sections, key=lambda k: k.count("\\")):
        text += f"[{prefix}\\{key}]\n"
        text += "".join(f"{_reg_string(n)}={_reg_sz(v)}\n" for n, v in sections[key].items())
        text += "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(minimal_hive(name))
    reg = path.with_name(path.name + ".reg")
    reg.write_text(text, encoding="utf-8")
    try:
        subprocess.run(
            ["hivexregedit", "--merge", "--prefix", prefix, str(path), str(reg)],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"hivexregedit: {exc.stderr.decode(errors='replace')}") from None
    finally:
        reg.unlink()
