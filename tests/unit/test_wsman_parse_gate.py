"""The lab Windows host answers only PowerShell that parses (its parse gate), without a lab.

The personality and gate run here as they run in a lab host; the install of the parser into a
host is tried against image roots whose python3 is or is not the control side's.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import winrm

from restore.errors import OperationalError
from restore.inputs import powershell_syntax
from restore.lab import twin_parser
from restore.lab.wsman import parse_gate, personality

WSMAN = Path(parse_gate.__file__).parent


def _encoded(script: str) -> str:
    return "powershell -encodedcommand " + base64.b64encode(script.encode("utf-16-le")).decode()


@pytest.mark.parametrize(
    ("script", "place", "reason", "error_id"),
    [
        ("Get-Service WinRM |", "At line:1 char:19", "An empty pipe element", "EmptyPipeElement"),
        ("Write-Output (1", "At line:1 char:16", "Missing closing ')'", "MissingEndParenthesis"),
        (
            "if ($x) {\n  Write-Output 1\n",
            "At line:1 char:9",
            "Missing closing '}'",
            "MissingEndCurly",
        ),
        ("Write-Output 'a", "At line:1 char:14", "missing the terminator: '", "TerminatorExpected"),
        (
            "Write-Output 1\nforeach ($i in 1..3) { $i }}",
            "At line:2 char:28",
            "Unexpected token '}'",
            "UnexpectedToken",
        ),
        (
            "Get-Service NTDS,DNS | Select-Object Name, Status )",
            "At line:1 char:51",
            "Unexpected token ')'",
            "UnexpectedToken",
        ),
    ],
)
def test_a_syntax_error_gets_a_parser_error_and_exit_1(
    script: str, place: str, reason: str, error_id: str
) -> None:
    out, err, rc = personality.run_command(script)
    assert (out, rc) == ("", 1)
    lines = err.split("\r\n")
    assert lines[0] == place and lines[1] == "+ " + script.splitlines()[int(place[8]) - 1]
    assert lines[2].rstrip().endswith("~") and reason in lines[3]
    assert "CategoryInfo          : ParserError" in err and error_id in err


def test_encoded_commands_get_clixml_that_pywinrm_decodes() -> None:
    out, err, rc = personality.run_command(_encoded("Get-Service WinRM |"))
    assert (out, rc) == ("", 1) and err.startswith("#< CLIXML\r\n<Objs ")
    # pywinrm's own run_ps cleanup, as it treats a real host's error stream
    plain = winrm.Session("http://127.0.0.1/wsman", auth=("u", "p"))._clean_error_msg(err.encode())
    assert plain.startswith(b"At line:1 char:19\n+ Get-Service WinRM |")
    assert b"An empty pipe element is not allowed." in plain


def test_a_marker_buys_no_answer_for_a_body_that_does_not_parse() -> None:
    broken = "# restore:defender\nGet-MpComputerStatus | Select-Object AntivirusEnabled, ( |"
    _out, err, rc = personality.run_command(_encoded(broken))
    assert rc == 1 and "ParserError" in err
    assert (
        parse_gate.parser_error("# restore:defender\nGet-MpComputerStatus | ConvertTo-Json") is None
    )


def test_control_characters_in_a_refused_script_stay_well_formed_clixml() -> None:
    from xml.etree import ElementTree as ET

    err = parse_gate.parser_error("Write-Output \x01 <&> (", clixml=True)
    assert err is not None
    ET.fromstring(err[1].split("\r\n", 1)[1])
    assert "_x0001_" in err[1]


def test_a_host_without_tree_sitter_answers_no_powershell(tmp_path: Path) -> None:
    """Fails closed: the gate's copies alone, under a python3 that has no tree_sitter."""
    for source in (WSMAN / "parse_gate.py", Path(powershell_syntax.__file__)):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import parse_gate; "
        "print(repr(parse_gate.parser_error('hostname')))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "no PowerShell parser" in result.stdout and ", 1)" in result.stdout


def _image(root: Path, python: str) -> Path:
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "python3").symlink_to(python)
    return root


def test_the_parser_is_copied_into_a_host_whose_python_matches(tmp_path: Path) -> None:
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    install = tmp_path / "install"
    twin_parser.install_powershell_parser(_image(tmp_path / "root", version), install)
    assert (install / "powershell_syntax.py").read_bytes() == Path(
        powershell_syntax.__file__
    ).read_bytes()
    binaries = sorted(p.name for p in (install / "vendor").rglob("*.so"))
    assert any(name.startswith("_binding.cpython-") for name in binaries), binaries
    assert any(name.endswith(".abi3.so") for name in binaries), binaries
    assert not list((install / "vendor").rglob("__pycache__"))
    # the copy alone parses, as the lab host will use it
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/vendor']; "
        "import powershell_syntax as p; print(p.syntax_problems('Get-Service |') != [])"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(install)], capture_output=True, text=True
    )
    assert result.stdout.strip() == "True", result.stderr


def test_a_host_whose_python_differs_is_refused_with_the_fix(tmp_path: Path) -> None:
    other = f"python3.{sys.version_info[1] + 1}"
    with pytest.raises(OperationalError, match=rf"Python 3\.{sys.version_info[1] + 1}.*fix: build"):
        twin_parser.install_powershell_parser(_image(tmp_path / "root", other), tmp_path / "i")
