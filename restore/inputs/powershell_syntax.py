"""PowerShell parsed before it is sent: syntax errors found here, not on the night.

No PowerShell runs on the machines that build and test `restore`, so a syntax error in a
catalog query or in a graph's `winrm:` step would otherwise show up only on a real Windows
host. tree-sitter's PowerShell grammar (tree-sitter-powershell) parses the text the same way
for every caller: the integrity catalog, evidence collection, the Windows roles' scripts
(tests), `restore validate` (the winrm step kind, restore.inputs.step_arguments), and the
lab's simulated Windows host, which is given a copy of this module (standard library and
tree_sitter only, on purpose) and answers a text that does not parse with a parser error, as
PowerShell does (restore/lab/wsman/parse_gate.py).

A parse proves syntax only: cmdlet names, parameters and semantics still need a real host.

One gap of the grammar is bridged, as narrowly as the grammar allows: it rejects a command
argument that is a list of bare words (`Select-Object Name, State`, `Get-Service NTDS,DNS`),
which PowerShell accepts. Only when the text does not parse as it is, each bare word next to a
list comma is masked by digits of the same length (a number is a valid list element to the
grammar, and positions stay exact) and the text is parsed again. A mask is kept only where the
grammar then sees an element of a list that is itself a command's argument, the one place where
PowerShell takes a bare word; anywhere else (a method's arguments, an expression, a statement of
its own) the word is put back, so the grammar judges it as written. A masked word holds only
letters, digits, `_`, `.`, `*` and `-`, all of which a bare word may hold, so no error can hide
inside one. What remains errs on the side of refusing: a bare-word list whose words hold other
characters (paths such as `C:\\a, C:\\b`, non-ASCII letters) or that follows `-Name:` is not
masked, and is refused although PowerShell accepts it: quote such words.

A second gap: the grammar wants at least one statement, so a text of blanks and comments alone
(such as a bare `# restore:defender` marker) is taken as valid here, as PowerShell takes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

_SNIPPET = 30  # characters of the offending text shown in a message
# a bare word (not a $variable, -parameter, .member, path or string part) next to a list comma;
# the word is the whole match or its group 1
_BARE_LIST_WORD = re.compile(
    r"(?<![\w$\-.'\"@:\\/\[])[A-Za-z_][\w.*\-]*(?=\s*,)"
    r"|(?<=,)\s*(?!\d)([A-Za-z_][\w.*\-]*)(?![\w(:\\/])",
    re.ASCII,  # a mask of digits then has the word's length in bytes too: offsets stay exact
)
# a masked word that the grammar takes as an element of a command's list argument, innermost first
_DUE_CHAIN = [
    "decimal_integer_literal",
    "integer_literal",
    "unary_expression",
    "array_literal_expression",
    "command_elements",
]


@dataclass(frozen=True)
class SyntaxProblem:
    line: int  # 1-based, in the script
    column: int  # 1-based, in characters of that line
    message: str
    missing: str = ""  # the token the grammar expected there, when one is missing

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


@cache
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_powershell

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def syntax_problems(script: str, limit: int = 5) -> list[SyntaxProblem]:
    """Where `script` does not parse as PowerShell (empty when it does), first `limit` places."""
    source = script.encode("utf-8")  # what messages quote: masks keep every byte offset
    tree = _parser().parse(source)
    if tree.root_node.has_error and _only_comments(source, tree):
        return []
    if tree.root_node.has_error:
        tree = _parse_with_bare_lists_masked(script)
    if not tree.root_node.has_error:
        return []
    problems: list[SyntaxProblem] = []
    pending = [tree.root_node]
    while pending and len(problems) < limit:
        node = pending.pop()
        if node.is_missing:
            problems.append(_problem(source, node, f"missing {node.type!r}", node.type))
        elif node.is_error:
            text = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
            shown = " ".join(text.split())[:_SNIPPET]
            problems.append(_problem(source, node, f"cannot parse {shown!r}"))
        elif node.has_error:
            pending.extend(reversed(node.children))  # depth first, in source order
    if not problems:  # has_error with no node to blame: still refuse, at the start
        problems.append(SyntaxProblem(1, 1, "does not parse"))
    return sorted(problems, key=lambda p: (p.line, p.column))


def _only_comments(source: bytes, tree: Any) -> bool:
    """Blanks and whole comments alone: PowerShell runs that as nothing, the grammar refuses it."""
    rest = bytearray(source)
    for node in tree.root_node.children:
        if node.type != "comment":
            continue
        text = source[node.start_byte : node.end_byte]
        if text.startswith(b"<#") and (len(text) < 4 or not text.endswith(b"#>")):
            return False  # an unterminated block comment: PowerShell refuses it too
        rest[node.start_byte : node.end_byte] = b" " * len(text)
    return not bytes(rest).strip()


def _parse_with_bare_lists_masked(script: str) -> Any:
    """The parse of `script` with its bare-word list elements masked, where masks are due.

    Each round puts back every masked word that the grammar does not see as an element of a
    command's list argument (outside a region it already refuses), until none is left to put
    back: a number can stand where a bare word cannot, so a mask elsewhere could hide an error.
    """
    spans = [match.span(match.lastindex or 0) for match in _BARE_LIST_WORD.finditer(script)]
    while True:
        masked = list(script)
        for start, end in spans:
            masked[start:end] = "1" * (end - start)
        text = "".join(masked)
        tree = _parser().parse(text.encode("utf-8"))
        misplaced = [span for span in spans if not _masked_word_is_due(text, tree, span)]
        if not misplaced:
            return tree
        spans = [span for span in spans if span not in misplaced]


def _masked_word_is_due(text: str, tree: Any, span: tuple[int, int]) -> bool:
    """The masked word at `span` is a list element of a command argument, or inside an error."""
    start = len(text[: span[0]].encode("utf-8"))
    end = start + span[1] - span[0]  # an ASCII word: one byte a character
    node = tree.root_node.named_descendant_for_byte_range(start, end)
    chain = []
    while node is not None:
        if node.is_error:
            return True  # refused already: the mask hides nothing
        chain.append(node)
        node = node.parent
    types = [n.type for n in chain[:5]]
    return (
        types == _DUE_CHAIN
        and chain[2].start_byte == start  # no operator before the word (`!Name`, `-Name`)
        and chain[2].end_byte == end
    )


def _problem(source: bytes, node: Any, message: str, missing: str = "") -> SyntaxProblem:
    row, byte_column = node.start_point
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    column = len(source[line_start : line_start + byte_column].decode("utf-8", "replace"))
    return SyntaxProblem(row + 1, column + 1, message, missing)
