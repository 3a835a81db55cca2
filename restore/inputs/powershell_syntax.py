"""PowerShell parsed before it is sent: syntax errors found here, not on the night.

No PowerShell runs on the machines that build and test `restore`, and the lab's simulated
Windows host answers queries by their marker, so a syntax error in a catalog query or in a
graph's `winrm:` step would otherwise show up only on a real Windows host. tree-sitter's
PowerShell grammar (tree-sitter-powershell) parses the text the same way for every caller:
the integrity catalog, evidence collection, the Windows roles' scripts (tests) and
`restore validate` (the winrm step kind, restore.inputs.step_arguments).

A parse proves syntax only: cmdlet names, parameters and semantics still need a real host.

One gap of the grammar is bridged: it rejects a command argument that is a list of bare words
(`Select-Object Name, State`, `Get-Service NTDS,DNS`), which PowerShell accepts. Before
parsing, each bare word of such a list is masked by digits of the same length (a number is
a valid list element to the grammar), so positions stay exact; an error inside such a word
could be missed, an error elsewhere never is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

_SNIPPET = 30  # characters of the offending text shown in a message
# a bare word (not a $variable, -parameter, .member, path or string part) next to a list comma
_BARE_LIST_WORD = re.compile(
    r"(?<![\w$\-.'\"@:\\/\[])[A-Za-z_][\w.*\-]*(?=\s*,)"
    r"|(?<=,)(\s*)(?![\d])([A-Za-z_][\w.*\-]*)(?![\w(:\\/])"
)


@dataclass(frozen=True)
class SyntaxProblem:
    line: int  # 1-based, in the script
    column: int  # 1-based, in characters of that line
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


@cache
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_powershell

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def syntax_problems(script: str, limit: int = 5) -> list[SyntaxProblem]:
    """Where `script` does not parse as PowerShell (empty when it does), first `limit` places."""
    source = _mask_bare_lists(script).encode("utf-8")
    tree = _parser().parse(source)
    if not tree.root_node.has_error:
        return []
    problems: list[SyntaxProblem] = []
    pending = [tree.root_node]
    while pending and len(problems) < limit:
        node = pending.pop()
        if node.is_missing:
            problems.append(_problem(source, node, f"missing {node.type!r}"))
        elif node.is_error:
            text = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
            shown = " ".join(text.split())[:_SNIPPET]
            problems.append(_problem(source, node, f"cannot parse {shown!r}"))
        elif node.has_error:
            pending.extend(reversed(node.children))  # depth first, in source order
    if not problems:  # has_error with no node to blame: still refuse, at the start
        problems.append(SyntaxProblem(1, 1, "does not parse"))
    return sorted(problems, key=lambda p: (p.line, p.column))


def _mask_bare_lists(script: str) -> str:
    def digits(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return match.group(1) + "1" * len(match.group(2))
        return "1" * len(match.group(0))

    return _BARE_LIST_WORD.sub(digits, script)


def _problem(source: bytes, node: Any, message: str) -> SyntaxProblem:
    row, byte_column = node.start_point
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    column = len(source[line_start : line_start + byte_column].decode("utf-8", "replace"))
    return SyntaxProblem(row + 1, column + 1, message)
