"""One hostile-string corpus for every renderer (DESIGN §9: escape at every boundary).

Each string is something an attacker can put in a file name, a command's output, a WinRM
answer, a ransom note, or that an operator may type in a reason. Renderers must show them as
text: no markup, no HTML element or attribute, no broken table, no forged line, no terminal
control. Add to it; every renderer test runs every string.
"""

from __future__ import annotations

HOSTILE: tuple[str, ...] = (
    "a | b | c",
    "line one\nline two\n| forged | row |",
    "- forged list item\n# forged heading",
    "<img src=x onerror=alert(1)>",
    "<script>alert(document.cookie)</script>",
    '"><svg onload=alert(1)>',
    "[/x]",
    "[red]x[/]",
    "[bold][link=http://evil.test]click[/link]",
    "`code` ``` fence",
    "]]><x>cdata end",
    "AT&T &amp; &lt;b&gt; &#60;i&#62;",
    "bad utf-8 \udcff\udcfe here",
    "x" * 20_000,
    "invoice\u202etxt.exe",
    "clear \x1b[2J\x1b[1;1H screen \x07 bell \r carriage",
    "[click](javascript:alert(1)) ![img](http://evil.test/x.png)",
    "**bold** _em_ ~~strike~~ <http://evil.test>",
    "\\| escaped pipe \\",
    "> quote\n>> nested",
    "1. ordered\n2) list",
    "{{ lookup('pipe', 'id') }} ${IFS} $(id) `id`",
    "NUL\x00byte",
)

# Where the terminal must show the text literally (after control characters are escaped).
LITERAL_ON_CONSOLE: tuple[str, ...] = (
    "[/x]",
    "[red]x[/]",
    "a | b | c",
    "<img src=x onerror=alert(1)>",
)
