"""The PowerShell parser given to a Windows lab host, so that it answers only text that parses.

The host runs chrooted under the golden image's python3 (Debian bookworm: 3.11), which has no
tree_sitter and cannot install one (no registry inside a lab host). The control side copies
its own: the product's syntax checker (restore/inputs/powershell_syntax.py), tree_sitter and
tree_sitter_powershell. Those two hold compiled extensions, so they are copied only when they
were built for the image's Python: tree_sitter's `.cpython-3XY-<arch>.so` must name the image's
version (a stable-ABI `.abi3.so` suits any), otherwise the lab refuses to start the host with
the fix, rather than start a host that would fail every command.
"""

from __future__ import annotations

import re
import shutil
import sysconfig
from pathlib import Path
from types import ModuleType

from restore.errors import OperationalError

CHECKER_NAME = "powershell_syntax.py"  # the name the lab host's parse_gate imports


def install_powershell_parser(rootfs: Path, install: Path) -> None:
    """Copy the checker next to the host's endpoint and tree_sitter into its vendor/ dir."""
    import tree_sitter
    import tree_sitter_powershell

    from restore.inputs import powershell_syntax

    version = image_python_version(rootfs)
    for package in (tree_sitter, tree_sitter_powershell):
        source = _package_dir(package)
        unfit = [so.name for so in source.glob("*.so") if not _fits(so.name, version)]
        if unfit:
            raise OperationalError(
                f"the Windows lab hosts need {source.name} built for the lab image's Python "
                f"{version[0]}.{version[1]}, and this control side's is built for another "
                f"({', '.join(unfit)}; this Python: {sysconfig.get_config_var('EXT_SUFFIX')}); "
                f"fix: build the venv with python{version[0]}.{version[1]} (Debian bookworm's "
                "python3), so that the lab hosts can parse the PowerShell they are sent"
            )
        shutil.copytree(
            source,
            install / "vendor" / source.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.c", "*.pyi", "queries"),
            dirs_exist_ok=True,
        )
    shutil.copy2(_module_file(powershell_syntax), install / CHECKER_NAME)


def image_python_version(rootfs: Path) -> tuple[int, int]:
    """The (major, minor) of the image's python3, from its /usr/bin/python3 link."""
    link = rootfs / "usr" / "bin" / "python3"
    try:
        target = link.readlink().name if link.is_symlink() else ""
    except OSError:
        target = ""
    found = re.fullmatch(r"python(\d+)\.(\d+)", target)
    if found is None:  # not a link to pythonX.Y: the image's stdlib dir says it
        names = sorted(p.name for p in (rootfs / "usr" / "lib").glob("python3.*"))
        found = re.fullmatch(r"python(\d+)\.(\d+)", names[-1]) if names else None
    if found is None:
        raise OperationalError(
            f"cannot tell the Python version of the lab image {rootfs} (no usr/bin/python3); "
            "fix: rebuild it with `restore lab up --rebuild-rootfs`"
        )
    return int(found.group(1)), int(found.group(2))


def _fits(extension: str, version: tuple[int, int]) -> bool:
    """A compiled module of this name loads under CPython `version` (same machine)."""
    if extension.endswith(".abi3.so"):
        return True
    tag = re.search(r"\.cpython-(\d)(\d+)-", extension)
    return tag is not None and (int(tag.group(1)), int(tag.group(2))) == version


def _package_dir(package: ModuleType) -> Path:
    return _module_file(package).parent


def _module_file(module: ModuleType) -> Path:
    if module.__file__ is None:
        raise OperationalError(f"{module.__name__} has no file to copy into the lab hosts")
    return Path(module.__file__)
