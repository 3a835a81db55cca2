"""A Windows host under the attacker's control: answers of shapes no cmdlet gives.

The lab's WS-Man host answers from its state file; the attacker edits that file. Every odd
shape must become a finding with the raw text, never an exception and never clean.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.hostile.conftest import RSS_LIMIT_MIB, WALL_LIMIT_S, HostileLab

STATE = "/windows/state.json"

pytestmark = pytest.mark.lab

# state key -> a value of a shape no cmdlet gives
SHAPES: dict[str, object] = {
    "services": ["WinRM", 7, None],  # strings where objects are expected
    "local_admins": {"Name": "evil", "SID": "S-1-5-21"},  # an object for a list of names
    "scheduled_tasks": [
        {"TaskName": "t", "TaskPath": "\\", "Execute": ["a", "b"]},
        [1, 2],
        "x",
    ],
    "defender": {  # "false" as a string is truthy: it read as "Defender on"
        "AntivirusEnabled": "false",
        "RealTimeProtectionEnabled": "False",
        "AntivirusSignatureAge": "41",
    },
    "run_keys": "HKLM:\\Run evil.exe",  # a string where a list is expected
}


def _edit(attacked: HostileLab, key: str, value: object) -> None:
    encoded = base64.b64encode(json.dumps(value).encode()).decode()
    attacked.plant(
        "wevil",
        "python3 - <<'PY'\n"
        f"import base64, json\ns = json.load(open('{STATE}'))\n"
        f"s['{key}'] = json.loads(base64.b64decode('{encoded}'))\n"
        f"json.dump(s, open('{STATE}', 'w'))\nPY\n",
    )


def test_unexpected_shapes_are_findings_not_exceptions(attacked: HostileLab) -> None:
    for key, value in SHAPES.items():
        _edit(attacked, key, value)
    run = attacked.check("wevil")
    assert run.verdict != "clean"
    assert "internal" not in run.failed()  # was: AttributeError in the fact gatherer
    assert not any("unreadable output" in f["detail"] for f in run.host["findings"])
    unparsed = [e for f in run.findings("unparsed_output") for e in f["evidence"]]
    named = {item.split(":", 1)[0] for item in unparsed}  # the fact, then the raw text
    assert set(SHAPES) <= named, unparsed
    assert run.wall_s < WALL_LIMIT_S


def test_a_flooding_endpoint_is_cut_and_reported(attacked: HostileLab) -> None:
    # one answer of ~24 MB: pywinrm alone would hold all of it (and more) in memory
    attacked.plant(
        "wevil",
        "python3 - <<'PY'\n"
        "import json\n"
        f"s = json.load(open('{STATE}'))\n"
        "s['services'] += [{'Name': 'svc%d' % i, 'PathName': 'C:\\\\x' * 200} "
        "for i in range(20000)]\n"
        f"json.dump(s, open('{STATE}', 'w'))\nPY\n",
    )
    run = attacked.check("wevil")
    assert run.verdict != "clean"
    assert "output_truncated" in run.failed()
    assert run.wall_s < WALL_LIMIT_S
    assert run.rss_mib < RSS_LIMIT_MIB


def test_a_powershell_error_reads_as_text_not_clixml(attacked: HostileLab) -> None:
    # powershell.exe without a console (WinRM) sends its errors as CLIXML; the operator, the
    # journal and the report get the lines, not a page of XML
    from restore.inputs.inventory import load_inventory
    from restore.transports.winrm import WinrmTransport

    host = load_inventory(attacked.inventory, with_secrets=True).host("wevil")
    transport = WinrmTransport(host)
    try:
        broken = transport.run("if ($true { 'x' }")
    finally:
        transport.close()
    assert broken.rc != 0
    assert not broken.stderr.startswith("#< CLIXML"), broken.stderr[:200]
    assert "ParserError" in broken.stderr and "At line:1" in broken.stderr
