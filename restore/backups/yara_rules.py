"""Operator-given YARA rules (``restore backups scan --rules DIR``), compiled once.

Every ``*.yar`` / ``*.yara`` file of DIR (and below) is one namespace named by its path
relative to DIR, so two files may reuse a rule name. A file that does not compile is a bad
input: the error names the file and line, as yara reports them. Each distinct file content
of the repository is matched once (the scan's content cache), with a time limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yara

from restore.errors import InputError

MATCH_TIMEOUT_S = 60
_SUFFIXES = (".yar", ".yara")
_FIX = "fix the rule at that line, or move the file out of the rules directory"
_WHERE = re.compile(r"^.*?\((\d+)\): (.*)$", re.S)


@dataclass(frozen=True)
class Match:
    rule: str  # namespace:rule (the namespace is the rule file's path under DIR)
    severity: str  # the rule's meta "severity" if "suspect" or "note", else compromised


@dataclass(frozen=True)
class YaraRules:
    compiled: Any = None  # yara.Rules (no type stubs)
    files: tuple[str, ...] = ()

    def match(self, data: bytes) -> tuple[tuple[Match, ...], str | None]:
        """The rules this content matches, and an error if matching could not finish."""
        try:
            found = self.compiled.match(data=data, timeout=MATCH_TIMEOUT_S)
        except yara.TimeoutError:
            return (), f"YARA matching did not finish within {MATCH_TIMEOUT_S}s"
        except yara.Error as exc:
            return (), f"YARA matching failed: {exc}"
        return tuple(
            Match(f"{m.namespace}:{m.rule}", _severity(m.meta.get("severity"))) for m in found
        ), None


def _severity(value: object) -> str:
    # analysis' severities, spelled out here so that this module stays a leaf
    return value if value in ("suspect", "note") else "compromised"


def load(directory: Path) -> YaraRules:
    if not directory.is_dir():
        raise InputError(
            "not a directory of YARA rules", file=str(directory), hint="give --rules a directory"
        )
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file())
    if not paths:
        raise InputError(
            "no YARA rule file (*.yar, *.yara) in this directory",
            file=str(directory),
            hint="put the rules in DIR as NAME.yar files",
        )
    sources: dict[str, str] = {}
    for path in paths:
        namespace = str(path.relative_to(directory))
        try:
            yara.compile(filepath=str(path))  # alone first, so that an error names its file
        except yara.SyntaxError as exc:
            where = _WHERE.match(str(exc))
            line, text = (int(where.group(1)), where.group(2)) if where else (None, str(exc))
            raise InputError(
                f"YARA rule does not compile: {text}", file=str(path), line=line, hint=_FIX
            ) from None
        except yara.Error as exc:
            raise InputError(f"YARA rule file unusable: {exc}", file=str(path), hint=_FIX) from None
        sources[namespace] = str(path)
    try:
        compiled = yara.compile(filepaths=sources)
    except yara.Error as exc:
        raise InputError(
            f"YARA rules do not compile together: {exc}", file=str(directory), hint=_FIX
        ) from None
    return YaraRules(compiled, tuple(sources))
