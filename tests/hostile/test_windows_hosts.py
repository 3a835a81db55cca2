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

# (state key, hostile value, the check that must not pass)
SHAPES = {
    "services-as-strings": ("services", ["WinRM", 7, None], "unparsed_output"),
    "admins-as-object": ("local_admins", {"Name": "evil", "SID": "S-1-5-21"}, "unparsed_output"),
    "tasks-mixed": (
        "scheduled_tasks",
        [{"TaskName": "t", "TaskPath": "\\", "Execute": ["a", "b"]}, [1, 2], "x"],
        "unparsed_output",
    ),
    "defender-strings": (
        "defender",
        {
            "AntivirusEnabled": "false",
            "RealTimeProtectionEnabled": "False",
            "AntivirusSignatureAge": "41",
        },
        "unparsed_output",
    ),
    "run-keys-as-string": ("run_keys", "HKLM:\\Run evil.exe", "unparsed_output"),
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


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_an_unexpected_shape_is_a_finding_not_an_exception(
    attacked: HostileLab, shape: str
) -> None:
    key, value, check = SHAPES[shape]
    _edit(attacked, key, value)
    run = attacked.check("wevil")
    assert run.verdict != "clean"
    assert check in run.failed(), run.host["findings"]
    assert "internal" not in run.failed()  # was: AttributeError in the fact gatherer
    assert not any("unreadable output" in f["detail"] for f in run.host["findings"])


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
