"""PowerShell's error stream as a person reads it, from the CLIXML that WinRM carries.

`powershell -EncodedCommand` run without a console writes its error stream as serialized
objects ("#< CLIXML" then <Objs> with one <S S="Error"> per line, control characters as
_xHHHH_). Shown raw, a syntax error or a failed cmdlet is a page of XML in the live view, the
journal and the report. The text comes from the host, so it is parsed as data: no DTD, no
entities, bounded by the transport's stderr cap before it gets here, and given back untouched
when it is not the shape expected.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

_MARKER = "#< CLIXML"
_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def decode_error_stream(text: str) -> str:
    """The error lines of a CLIXML error stream, or ``text`` itself when it is not one."""
    if not text.startswith(_MARKER):
        return text
    body = text[len(_MARKER) :].strip()
    if "<!DOCTYPE" in body or "<!ENTITY" in body:  # a document type is never legitimate here
        return text
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return text
    lines = [
        _unescape(element.text or "")
        for element in root.iter()
        if element.tag.rsplit("}", 1)[-1] == "S" and element.get("S") == "Error"
    ]
    return "".join(lines) if lines else text
