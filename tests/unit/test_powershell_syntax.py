"""Every PowerShell text the product can send parses with a real PowerShell grammar.

The catalog's queries, evidence collection's file queries and file writes (the WinRM
transport), the Windows roles' win_powershell scripts and the example graph's winrm: steps;
and a graph whose winrm: step does not parse is refused by `restore validate` (exit 2).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore.inputs.powershell_syntax import syntax_problems
from restore.integrity.checks import windows_facts
from restore.integrity.checks.catalog import Context
from restore.integrity.checks.indicators import load_indicators
from restore.models import CommandOutput, Credential, HostSpec, Platform
from restore.transports.winrm import WinrmTransport

from .graphs import service, write_graph, write_inventory

ROOT = Path(__file__).resolve().parents[2]


def _catalog_scripts() -> dict[str, str]:
    ctx = Context(indicators=load_indicators(), platform=Platform.WINDOWS)
    return {fact.name: fact.command(ctx) for fact in windows_facts.FACTS}


class _Recorder(WinrmTransport):
    """The transport's own script building, with the sending replaced by a record."""

    def __init__(self) -> None:
        super().__init__(
            HostSpec("w", Platform.WINDOWS, "w.test", 5986, "Administrator", Credential("none"))
        )
        self.sent: list[str] = []

    def run(self, command: str, timeout: float = 0, **_caps: object) -> CommandOutput:
        self.sent.append(command)
        return CommandOutput(rc=1, stdout="", stderr="", duration_s=0.0)


def _transport_scripts(tmp_path: Path) -> list[str]:
    recorder = _Recorder()
    recorder.file_hash("C:\\Data\\it's here.txt", timeout=5)  # a quote in a path
    with pytest.raises(Exception, match="cannot read"):
        recorder.get("C:\\Data\\note.txt", tmp_path / "note", 1024, timeout=5)
    local = tmp_path / "payload"
    local.write_bytes(b"\x00\x01 evidence")
    with pytest.raises(Exception, match="cannot write"):
        recorder.put(local, "C:\\Temp\\o'brien.bin", timeout=5)
    return recorder.sent


def _role_scripts() -> dict[str, str]:
    """win_powershell scripts of the roles, Jinja expressions replaced by a plain word."""
    scripts = {}
    for tasks in sorted((ROOT / "playbooks").rglob("*.yml")):
        for index, task in enumerate(_tasks(yaml.safe_load(tasks.read_text()))):
            module = task.get("ansible.windows.win_powershell") or task.get("win_powershell")
            if isinstance(module, dict) and isinstance(module.get("script"), str):
                text = re.sub(r"\{\{.*?\}\}", "jinja", module["script"])
                scripts[f"{tasks.relative_to(ROOT)}[{index}]"] = text
    return scripts


def _tasks(data: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict):
            found.append(item)
            for key in ("tasks", "block", "rescue", "always", "pre_tasks", "post_tasks"):
                found += _tasks(item.get(key))
    return found


def test_every_catalog_query_parses() -> None:
    scripts = _catalog_scripts()
    assert len(scripts) == len(windows_facts.FACTS) >= 9
    for name, script in scripts.items():
        assert syntax_problems(script) == [], name


def test_the_transports_file_queries_and_writes_parse(tmp_path: Path) -> None:
    sent = _transport_scripts(tmp_path)
    assert any("# restore:file-hash" in s for s in sent)
    assert any("# restore:file-content" in s for s in sent)
    assert any("WriteAllBytes" in s for s in sent)
    for script in sent:
        assert syntax_problems(script) == [], script


def test_the_windows_roles_scripts_parse() -> None:
    scripts = _role_scripts()
    assert len(scripts) >= 5
    for name, script in scripts.items():
        assert syntax_problems(script) == [], name


def test_the_example_graphs_winrm_steps_parse() -> None:
    graph = yaml.safe_load((ROOT / "dependency_graphs" / "hospital.yaml").read_text())
    steps = [
        step["winrm"]
        for svc in graph["services"]
        for step in svc.get("steps") or []
        if isinstance(step, dict) and "winrm" in step
    ]
    assert steps
    for script in steps:
        assert syntax_problems(script) == [], script


@pytest.mark.parametrize(
    ("script", "line", "column"),
    [
        ("Get-Service WinRM |", 1, 1),  # a pipe to nothing
        ("$a = @{x = 1\nWrite-Output $a", 1, 1),  # an unclosed hashtable
        ("Write-Output 1\nforeach ($i in 1..3) { $i }}", 2, 28),  # one brace too many
        ("Write-Output 'unterminated", 1, 1),
    ],
)
def test_syntax_errors_are_found_with_their_position(script: str, line: int, column: int) -> None:
    problems = syntax_problems(script)
    assert problems, script
    assert (problems[0].line, problems[0].column) == (line, column)


@pytest.mark.parametrize(
    "script",
    [
        "Get-Service NTDS,DNS,Netlogon | ConvertTo-Json",  # bare-word lists: valid PowerShell
        "Get-CimInstance Win32_Service | Select-Object Name, State, StartMode",
        "[Math]::Min($a.max_bytes, $_.Length)",
        "Get-Item 'C:\\Data\\a, b.txt' | Select-Object FullName",
    ],
)
def test_valid_powershell_is_not_refused(script: str) -> None:
    assert syntax_problems(script) == []


@pytest.mark.parametrize(
    ("script", "line", "column", "quoted"),
    [
        # an error right after, inside or around a bare-word list is still found
        ("Select-Object Name, State }", 1, 27, "'}'"),
        ("Get-Service NTDS,DNS)", 1, 21, "')'"),
        ("Select-Object Na{me, State", 1, 1, "Na{me"),
        ("Get-Service NTDS,DNS |", 1, 1, "NTDS,DNS |"),
        ("Select-Object Name,, State", 1, 1, "Name,, State"),  # an empty element
        ("Select-Object Name, 'State", 1, 1, "'State"),  # an unterminated string in a list
        ("Get-Service !Name, DNS", 1, 1, "!Name"),  # an operator before a listed word
        # bare words where PowerShell takes none: the mask is put back and the grammar refuses
        ("$a.Method(Name, State)", 1, 11, "Name, State"),  # a method's arguments
        ("[Math]::Min(Name, 2)", 1, 13, "Name"),
        ("Select-Object Name, State; $a.M(Name, X)", 1, 33, "Name, X"),  # one of each
        ("if ($s.Status -eq Running, X) { 1 }", 1, 1, "-eq Running"),  # an expression
        ("Select-Object Name, State\nforeach ($i in 1..3) { $i }}", 2, 28, "'}'"),
    ],
)
def test_an_error_next_to_or_inside_a_bare_word_list_is_found(
    script: str, line: int, column: int, quoted: str
) -> None:
    problems = syntax_problems(script)
    assert problems, script
    assert (problems[0].line, problems[0].column) == (line, column), problems
    # the message quotes the text as written, never the digits that masked it
    assert quoted in str(problems[0]), problems
    assert not any("1111" in str(p) for p in problems), problems


def test_messages_quote_the_script_as_written_not_its_masks() -> None:
    problems = syntax_problems("Get-Service NTDS,DNS,Netlogon | ConvertTo-Json |")
    assert problems and "NTDS,DNS,Netlogon" in problems[0].message, problems


@pytest.mark.parametrize(
    "script",
    [
        "Select-Object -Property:Name,State",  # `-Name:value` lists: write `-Name a,b`
        "Get-Item C:\\a, C:\\b",  # bare paths in a list: quote them
        "Select-Object Nämé, State",  # non-ASCII bare words in a list: quote them
    ],
)
def test_what_the_masking_leaves_is_refused_never_missed(script: str) -> None:
    """Bare-word lists the masking does not cover: refused (quote them), documented."""
    assert syntax_problems(script) != []


@pytest.mark.parametrize("script", ["", "  \n", "# restore:defender", "# a\n# b\n", "<# a\n b #>"])
def test_a_script_of_comments_alone_is_valid_as_in_powershell(script: str) -> None:
    assert syntax_problems(script) == []


@pytest.mark.parametrize("script", ["<# unterminated", "# a\n}", "# a\n<#>", "# a <# b\n)"])
def test_comments_do_not_cover_an_error(script: str) -> None:
    assert syntax_problems(script) != []


def test_validate_refuses_a_winrm_step_that_does_not_parse(tmp_path: Path) -> None:
    steps = [
        "check",
        {"winrm": "Get-Service NTDS,DNS | ConvertTo-Json", "name": "fine"},
        {"winrm": "Write-Output 1\nforeach ($i in 1..3) { $i }}", "name": "broken"},
    ]
    graph = write_graph(tmp_path, [service("directory", 1, ["dc01"], steps=steps)])
    inventory = write_inventory(tmp_path, {"dcs": ["dc01"]}, windows=("dc01",))
    result = subprocess.run(
        [sys.executable, "-m", "restore", "validate", str(graph), "-i", str(inventory)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stdout + result.stderr
    assert "service 'directory'" in message and "steps[2].winrm" in message
    assert "script line 2, column 28" in message and "Traceback" not in message
