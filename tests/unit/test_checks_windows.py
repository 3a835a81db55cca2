"""Windows parsers and checks on answers shaped like the cmdlets' JSON (and the lab's)."""

from __future__ import annotations

import json
from typing import Any

from restore.integrity.checks.catalog import Context, Parsed
from restore.integrity.checks.indicators import load_indicators
from restore.integrity.checks.runner import evaluate
from restore.integrity.checks.verdict import aggregate
from restore.integrity.checks.windows import CATALOG
from restore.integrity.checks.windows_facts import FACTS, files_script
from restore.models import CommandOutput, FindingStatus, Platform, Verdict

CTX = Context(
    indicators=load_indicators(), platform=Platform.WINDOWS, data_paths=("C:\\Users", "C:\\Data")
)
FRESH = {
    "defender": {
        "AntivirusEnabled": True,
        "RealTimeProtectionEnabled": True,
        "AntivirusSignatureAge": 0,
        "TamperProtected": True,
    },
    "local_admins": "Administrator",  # ConvertTo-Json of a one-element array
    "services": [
        {
            "Name": "WinDefend",
            "PathName": '"C:\\ProgramData\\Microsoft\\Windows Defender\\platform\\MsMpEng.exe"',
        }
    ],
    "scheduled_tasks": [
        {
            "TaskName": "ScheduledDefrag",
            "TaskPath": "\\Microsoft\\Windows\\",
            "Execute": "%windir%\\system32\\defrag.exe",
        }
    ],
    "run_keys": [
        {
            "Key": "HKLM:\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
            "Name": "SecurityHealth",
            "Value": "%windir%\\system32\\x.exe",
        }
    ],
    "wmi_subscriptions": [],
    "security_log_cleared": [],
    "shadow_copies": {"Count": 3, "DeletionCommands": []},
    "ransom_files": [{"FullName": "C:\\Data\\readme.txt", "Length": 20}],
}


def facts(**changes: Any) -> dict[str, Any]:
    answers = {**FRESH, **changes}
    parsed = {f.name: f.parse(CommandOutput(0, json.dumps(answers[f.name]))) for f in FACTS}
    return {k: v.value if isinstance(v, Parsed) else v for k, v in parsed.items()}


def run(current: dict[str, Any], base: dict[str, Any] | None = None) -> Any:
    findings = evaluate(CATALOG, current, {}, base, CTX)
    return aggregate(findings), {f.check for f in findings if f.status is FindingStatus.FAIL}


def test_fresh_host_is_clean() -> None:
    assert run(facts()) == (Verdict.CLEAN, set())
    assert run(facts(), facts()) == (Verdict.CLEAN, set())


def test_scenarios_are_caught() -> None:
    task = {
        "TaskName": "SysUpdate",
        "TaskPath": "\\",
        "Execute": "powershell.exe -nop -w hidden -enc SQBFAFgA",
    }
    cases = [
        ({"scheduled_tasks": [*FRESH["scheduled_tasks"], task]}, "scheduled_tasks", False),
        ({"local_admins": ["Administrator", "svc-backup"]}, "local_admins", True),
        (
            {"defender": {**FRESH["defender"], "RealTimeProtectionEnabled": False}},
            "defender",
            False,
        ),
        ({"defender": {**FRESH["defender"], "AntivirusSignatureAge": 41}}, "defender", False),
        (
            {"security_log_cleared": [{"Id": 1102, "TimeCreated": "2026-11-20T01:00:00"}]},
            "security_log_cleared",
            False,
        ),
        (
            {
                "wmi_subscriptions": [
                    {"Name": "x", "Type": "CommandLineEventConsumer", "Command": "cmd /c evil"}
                ]
            },
            "wmi_subscriptions",
            False,
        ),
    ]
    for change, check, needs_baseline in cases:
        base = facts() if needs_baseline else None
        verdict, failed = run(facts(**change), base)
        assert verdict is Verdict.SUSPECT and check in failed, (change, failed)


def test_strong_indicators() -> None:
    ransom = [
        {"FullName": "C:\\Data\\Restore-My-Files.txt", "Length": 60},
        {"FullName": "C:\\Data\\a.docx.lockbit", "Length": 9},
    ]
    verdict, failed = run(facts(ransom_files=ransom))
    assert verdict is Verdict.COMPROMISED and {"ransom_notes", "encrypted_files"} <= failed
    shadow = {
        "Count": 0,
        "DeletionCommands": [{"TimeCreated": "t", "CommandLine": "vssadmin delete shadows /all"}],
    }
    assert run(facts(shadow_copies=shadow))[0] is Verdict.COMPROMISED


def test_scripts_carry_the_marker_and_args_the_lab_answers() -> None:
    script = files_script(CTX)
    assert script.startswith("# restore:files\n# args: ")
    args = json.loads(script.splitlines()[1].split(":", 1)[1])
    assert args["paths"] == ["C:\\Users", "C:\\Data"] and "*.lockbit" in args["include"]
    for fact in FACTS:
        assert fact.command(CTX).startswith("# restore:")
