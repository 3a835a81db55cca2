"""Hostile Linux hosts, part two: what the evidence copy and the catalog say without help.

- A copy cut at the per-file cap, or fed more bytes than the host says the file holds, is a
  finding of its own (``evidence_truncated``), and its custody record says why.
- A file whose name is not UTF-8 is copied like any other, its exact name bytes in custody.
- Without a baseline, the generated PAM stacks are judged against the template and profiles
  dpkg vouches for, and a key root or a system account was not expected to have is named.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.hostile.conftest import HostileLab

CAP = 1 << 20


def _custody(attacked: HostileLab) -> list[dict[str, Any]]:
    path = attacked.state / "evidence" / "evil" / "custody.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_copy_cut_at_the_cap_is_a_finding_with_path_and_sizes(attacked: HostileLab) -> None:
    attacked.plant(
        "evil", "mkdir -p /srv/data; head -c 3000000 /dev/urandom > /srv/data/big.lockbit\n"
    )
    run = attacked.check("evil")
    (cut,) = run.findings("evidence_truncated")
    assert cut["status"] == "fail"
    assert (
        f"/srv/data/big.lockbit: copied {CAP} bytes, remote size 3000000, "
        f"cut at the per-file cap of {CAP} bytes (file of 3000000 bytes)"
    ) in cut["evidence"]
    (record,) = [r for r in _custody(attacked) if r["remote_path"] == "/srv/data/big.lockbit"]
    assert record["truncated"] and record["size"] == CAP and record["remote_size"] == 3000000
    assert "per-file cap" in record["truncation"] and record["cap_bytes"] == CAP


def test_a_host_sending_more_than_the_file_holds_is_a_finding(attacked: HostileLab) -> None:
    # `head` copies the file, then keeps sending: 2 MB for a 4-byte ransom-named file
    fake = '#!/bin/sh\\n/usr/lib/head.real "$@"\\nexec /usr/lib/head.real -c 2000000 /dev/zero\\n'
    attacked.plant(
        "evil",
        "mkdir -p /srv/data; printf abcd > /srv/data/small.lockbit\n"
        "cp /usr/bin/head /usr/lib/head.real\n"
        f"printf '{fake}' > /usr/bin/head; chmod 755 /usr/bin/head\n",
    )
    run = attacked.check("evil")
    assert run.verdict != "clean"
    (cut,) = run.findings("evidence_truncated")
    assert (
        f"/srv/data/small.lockbit: copied {CAP} bytes, remote size 4, "
        "the host sent more than the 4 bytes it says the file holds"
    ) in cut["evidence"]
    (record,) = [r for r in _custody(attacked) if r["remote_path"] == "/srv/data/small.lockbit"]
    assert record["truncated"] and record["size"] == CAP
    assert Path(record["stored_as"]).stat().st_size == CAP  # capped on the control node


def test_a_name_that_is_not_utf8_is_copied_with_its_bytes_in_custody(attacked: HostileLab) -> None:
    attacked.plant(
        "evil",
        "mkdir -p /srv/data\n"
        "printf 'pay up' > \"$(printf '/srv/data/bad\\377\\n%%s.lockbit')\"\n"
        # a name holding the text '\xfe' (backslash, x, f, e): shown the same way as a byte
        "printf 'text' > '/srv/data/lit\\xfe.lockbit'\n",
    )
    run = attacked.check("evil")
    (summary,) = run.findings("evidence")
    assert not any("not copied" in item for item in summary["evidence"]), summary
    records = {r["remote_path"]: r for r in _custody(attacked)}
    odd = records["/srv/data/bad\\xff\n%s.lockbit"]
    assert bytes.fromhex(odd["remote_path_hex"]) == b"/srv/data/bad\xff\n%s.lockbit"
    assert Path(odd["stored_as"]).read_bytes() == b"pay up" and not odd["truncated"]
    assert Path(odd["stored_as"]).name == odd["sha256"]  # stored under its hash, a safe name
    literal = records["/srv/data/lit\\xfe.lockbit"]
    assert bytes.fromhex(literal["remote_path_hex"]) == b"/srv/data/lit\\xfe.lockbit"
    assert Path(literal["stored_as"]).read_bytes() == b"text"


# -- without a baseline: the generated PAM stacks ------------------------------------------------

_PAM_PROFILE = (
    "Name: Session helper\\nDefault: yes\\nPriority: 300\\nAuth-Type: Primary\\nAuth:\\n"
    "\\tsufficient\\tpam_exec.so quiet /usr/local/sbin/.pam-helper\\n"
)


def test_generated_pam_stacks_are_judged_without_a_baseline(attacked: HostileLab) -> None:
    fresh = attacked.check("evil")
    assert not any("common-" in e for e in fresh.evidence_text().splitlines()), fresh.findings(
        "persistence"
    )
    attacked.plant(
        "evil",
        # 1. a profile of the intruder's own, installed the official way
        f"printf '{_PAM_PROFILE}' > /usr/share/pam-configs/zz-helper\n"
        "DEBIAN_FRONTEND=noninteractive pam-auth-update --package --enable zz-helper\n"
        "grep -q pam-helper /etc/pam.d/common-auth\n"
        # 2. a line slipped into the block pam-auth-update writes
        'sed -i \'s/^# here are the per-package modules (the "Primary" block)$/&\\n'
        "auth\\tsufficient\\tpam_permit.so/' /etc/pam.d/common-auth\n"
        # 3. the boilerplate edited: the fallback no longer denies
        "sed -i 's/^account\\trequisite\\t\\t\\tpam_deny.so$/account\\toptional\\tpam_deny.so/'"
        " /etc/pam.d/common-account\n"
        "grep -q 'optional.pam_deny' /etc/pam.d/common-account\n",
    )
    run = attacked.check("evil")
    assert run.verdict != "clean"
    (found,) = run.findings("persistence")
    text = "\n".join(found["evidence"])
    assert (
        "/etc/pam.d/common-auth: a line no PAM profile of a package explains: auth\\tsufficient\\tpam_permit.so"
        in text
    )
    assert "pam_exec.so quiet /usr/local/sbin/.pam-helper" in text
    assert (
        "/etc/pam.d/common-account: differs, outside its generated blocks, "
        "from the template its package ships"
    ) in text


# -- without a baseline: keys in root's and system accounts' authorized_keys ------------------


def test_without_a_baseline_keys_root_was_not_expected_to_have_are_named(
    attacked: HostileLab, tmp_path: Path
) -> None:
    fresh = attacked.check("evil")
    (keys,) = fresh.findings("authorized_keys")
    assert keys["status"] == "pass", keys  # the key the control node logs in with is expected
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")])
    public = (tmp_path / "k.pub").read_text().split()
    listed = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True)
    fingerprint = listed.stdout.decode().split()[1]
    line = f"{public[0]} {public[1]} <img src=x onerror=alert(1)>[red]x[/]"
    attacked.plant(
        "evil",
        f"printf '%s\\n' '{line}' >> /root/.ssh/authorized_keys\n"
        "mkdir -p /var/www/.ssh\n"  # www-data's home: a system account
        f"printf 'command=\"/bin/sh\" %s\\n' '{line}' > /var/www/.ssh/authorized_keys\n",
    )
    run = attacked.check("evil")
    assert run.verdict == "suspect"
    (keys,) = run.findings("authorized_keys")
    for path in ("/root/.ssh/authorized_keys", "/var/www/.ssh/authorized_keys"):
        assert (
            f"{path}: ssh-ed25519 {fingerprint} (<img src=x onerror=alert(1)>[red]x[/])"
            in keys["evidence"]
        )
    assert public[1] not in json.dumps(run.report)  # fingerprints, never the key text
    # listed in the inventory (a fingerprint, or the public key line), the same keys pass
    inventory = yaml.safe_load(attacked.inventory.read_text())
    evil = inventory["all"]["children"]["lab_linux"]["hosts"]["evil"]
    evil["restore_authorized_keys"] = [fingerprint]
    listed_inventory = tmp_path / "inventory.yml"
    listed_inventory.write_text(yaml.safe_dump(inventory))
    again = HostileLab(attacked.lab, listed_inventory, attacked.state).check("evil")
    (keys,) = again.findings("authorized_keys")
    assert keys["status"] == "pass", keys
