"""The simulated Windows host answers only a PowerShell text that parsed (issue 19).

Before the personality answers anything, the text is parsed with the very checker the product
uses (restore/inputs/powershell_syntax.py, tree-sitter-powershell): a text that does not parse
is answered as powershell.exe answers it, with exit code 1 and a ParserError on stderr
("At line:L char:C", the line, a caret, the reason, CategoryInfo and FullyQualifiedErrorId).
For `powershell -EncodedCommand` (pywinrm's run_ps, Ansible) the error stream is CLIXML, as
powershell.exe writes it when its output is not a console; pywinrm's run_ps decodes it.

Runs inside a lab host under the rootfs's python3: the control side copies powershell_syntax.py
next to this file and tree_sitter with its PowerShell grammar (binary wheels built for that
python3) into vendor/. Without them this host answers no PowerShell at all (fails closed).
"""

import re

try:  # inside the lab host: the checker's copy sits next to this file
    import powershell_syntax
except ImportError:  # imported from the control side (unit tests)
    from restore.inputs import powershell_syntax

NO_PARSER = (
    "restore lab: this simulated Windows host has no PowerShell parser (tree_sitter is not "
    "installed in it), so it answers no PowerShell; start the lab again from a control side "
    "whose tree_sitter matches the lab's python3\r\n"
)
# the reason and FullyQualifiedErrorId that PowerShell gives for a missing closing token
_MISSING = {
    "}": ("Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace"),
    ")": ("Missing closing ')' in expression.", "MissingEndParenthesisInExpression"),
    "]": ("Missing ']' after array index expression.", "MissingEndSquareBracket"),
    "'": ("The string is missing the terminator: '.", "TerminatorExpectedAtEndOfString"),
    '"': ('The string is missing the terminator: ".', "TerminatorExpectedAtEndOfString"),
}
_SHOWN = 40  # characters of an unexpected token quoted in the reason


def parser_error(script, clixml=False):
    """(stdout, stderr, rc) of powershell.exe refusing `script`, or None when it parses."""
    try:
        problems = powershell_syntax.syntax_problems(script)
    except ImportError:
        return "", NO_PARSER, 1
    except Exception:  # the checker itself failed: answer nothing rather than guess
        return "", "restore lab: this simulated Windows host could not parse this script\r\n", 1
    if not problems:
        return None
    text = parser_error_text(script, problems)
    return "", clixml_errors(text) if clixml else text, 1


def parser_error_text(script, problems):
    """PowerShell's ParserError report: each position with its line and caret, then the ids.

    A text that merely ends too early (an unclosed bracket or string, a trailing pipe) is told
    as PowerShell tells it; the grammar would blame the whole unfinished statement instead.
    """
    lines = script.splitlines() or [""]
    unfinished = _unfinished(script)
    if unfinished is not None:
        places = [unfinished]
    else:
        places = []
        for problem in problems:
            line = lines[problem.line - 1] if problem.line <= len(lines) else ""
            places.append((problem.line, problem.column) + _reason(problem, line))
    report = []
    for line_number, column, reason, _error_id in places:
        line = lines[line_number - 1] if line_number <= len(lines) else ""
        report += [
            "At line:%d char:%d" % (line_number, column),
            "+ " + line,
            "+ " + " " * (column - 1) + "~",
            reason,
        ]
    error_id = places[0][3]
    report += [
        "    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException",
        "    + FullyQualifiedErrorId : " + error_id,
    ]
    return "\r\n".join(report) + "\r\n"


def _reason(problem, line):
    if problem.missing:
        return _MISSING.get(
            problem.missing, ("Missing '%s'." % problem.missing, "MissingExpectedToken")
        )
    token = line[problem.column - 1 :].split()
    shown = token[0][:_SHOWN] if token else ""
    return "Unexpected token '%s' in expression or statement." % shown, "UnexpectedToken"


def _unfinished(script):
    """(line, column, reason, id) when `script` ends inside a bracket, a string or a pipeline."""
    stack, quote, start = [], None, None
    line, column, index = 1, 1, 0
    last = None  # the last character outside strings and comments, with its place
    while index < len(script):
        char, pair = script[index], script[index : index + 2]
        place = (line, column)
        step = 1
        if quote == "'":
            if pair == "''":
                step = 2
            elif char == "'":
                quote = None
        elif quote == '"':
            if char == "`":
                step = 2
            elif char == '"':
                quote = None
        elif pair == "<#":
            end = script.find("#>", index + 2)
            step = (end + 2 if end >= 0 else len(script)) - index
        elif char == "#":
            end = script.find("\n", index)
            step = (end if end >= 0 else len(script)) - index
        elif char in "'\"":
            quote, start = char, place
        elif char in "({[":
            stack.append((char, place))
        elif char in ")}]" and stack and "({[".index(stack[-1][0]) == ")}]".index(char):
            stack.pop()
        if quote is None and not char.isspace() and char != "#" and pair != "<#":
            last = (char, place)
        for skipped in script[index : index + step]:
            line, column = (line + 1, 1) if skipped == "\n" else (line, column + 1)
        index += step
    if quote is not None:
        return start + (_MISSING[quote][0], _MISSING[quote][1])
    if stack:
        opener, place = stack[-1]
        closer = ")}]"["({[".index(opener)]
        reason, error_id = _MISSING[closer]
        return (place if opener == "{" else (line, column)) + (reason, error_id)
    if last is not None and last[0] == "|":
        return last[1] + ("An empty pipe element is not allowed.", "EmptyPipeElement")
    return None


def clixml_errors(text):
    """`text` as powershell.exe writes its error stream when it is not a console: CLIXML."""
    parts = [
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    ]
    for line in text.split("\r\n")[:-1]:
        parts.append('<S S="Error">%s_x000D__x000A_</S>' % _clixml_escape(line))
    parts.append("</Objs>")
    return "".join(parts)


def _clixml_escape(line):
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # control characters are not XML: PowerShell's serializer writes them as _xHHHH_
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", lambda m: "_x%04X_" % ord(m.group()), line)
