"""Linux parsers and checks on captured output: fresh host clean, each trace caught."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from restore.integrity.checks import linux_facts as lf
from restore.integrity.checks.catalog import Context, FactError, Parsed
from restore.integrity.checks.indicators import load_indicators
from restore.integrity.checks.linux import CATALOG
from restore.integrity.checks.runner import evaluate
from restore.integrity.checks.verdict import aggregate
from restore.models import CommandOutput, FindingStatus, Verdict
from restore.transports.bounded import decode

ROOT_KEYS = "/root/.ssh/authorized_keys\tssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1 lab\n"
# the key in root's authorized_keys is the one the control node logs in with: expected
CTX = Context(
    indicators=load_indicators(),
    expected_keys=frozenset(
        k.rsplit(" ", 1)[1]
        for k in lf.parse_authorized_keys(CommandOutput(rc=0, stdout=ROOT_KEYS)).value
    ),
)

PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
postgres:x:104:110:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
"""
DPKG_CLEAN = "??5?????? c /etc/postgresql-common/createcluster.conf\n"
DPKG_TROJAN = DPKG_CLEAN + "??5??????   /bin/ls\n"
SS = (
    'tcp LISTEN 0 128 127.0.11.1:22 0.0.0.0:* users:(("sshd",pid=12,fd=3))\n'
    "tcp LISTEN 0 128 0.0.0.0:2024 0.0.0.0:*\n"
)


def out(stdout: str, rc: int = 0) -> CommandOutput:
    return CommandOutput(rc=rc, stdout=stdout)


def value(parsed: Any) -> Any:
    """A parser's value (what is left unaccounted for is tested on its own)."""
    return parsed.value if isinstance(parsed, Parsed) else parsed


def parse(fact: str, stdout: str) -> Any:
    return value(CATALOG.fact(fact).parse(out(stdout)))


CATALOG_OUT = (
    "E\0l\0f\0/etc/systemd/system/a.wants/x.service\0/usr/lib/x.service\0"
    "E\0f\0f\0/etc/cron.d/e2scrub_all\0\0" + "a" * 64 + "  /etc/cron.d/e2scrub_all\0"
)
PACKAGE_FILES = "DPKG\n/etc/cron.d/e2scrub_all\n/usr/lib/x.service\n"


def fresh_facts() -> dict[str, Any]:
    return {
        "accounts": parse("accounts", PASSWD),
        "admin_groups": parse("admin_groups", "sudo:x:27:\n"),
        "authorized_keys": parse("authorized_keys", ROOT_KEYS),
        "persistence": parse("persistence", CATALOG_OUT),
        "package_files": parse("package_files", PACKAGE_FILES),
        "pam_generated": parse("pam_generated", "D\0\0"),
        "preload": parse("preload", "ABSENT\n"),
        "modules": parse("modules", "NO-MODULES\n"),
        "suid": parse("suid", "b" * 64 + "  /usr/bin/passwd\0"),
        "ports": parse("ports", SS),
        "packages": parse("packages", DPKG_CLEAN),
        "hashes": parse("hashes", "c" * 64 + "  /usr/bin/ls\0"),
        "ransom_files": parse("ransom_files", ""),
    }


def run(facts: dict[str, Any], baseline: dict[str, Any] | None = None) -> Any:
    findings = evaluate(CATALOG, facts, {}, baseline, CTX)
    return aggregate(findings), {f.check for f in findings if f.status is FindingStatus.FAIL}


def test_fresh_host_is_clean_with_and_without_baseline() -> None:
    facts = fresh_facts()
    assert run(facts) == (Verdict.CLEAN, set())
    assert run(facts, baseline=fresh_facts()) == (Verdict.CLEAN, set())


def test_ports_keep_only_sockets_owned_by_this_host() -> None:
    assert parse("ports", SS) == {"tcp 127.0.11.1:22": "sshd"}


@pytest.mark.parametrize(
    ("fact", "stdout", "check", "verdict"),
    [
        (
            "ransom_files",
            "132\t/srv/data/README_RESTORE_FILES.txt\0",
            "ransom_notes",
            Verdict.COMPROMISED,
        ),
        ("ransom_files", "4096\t/srv/x.csv.lockbit\0", "encrypted_files", Verdict.COMPROMISED),
        ("packages", DPKG_TROJAN, "package_integrity", Verdict.COMPROMISED),
        ("preload", "PRESENT\n/usr/lib/libsysupdate.so\n", "ld_preload", Verdict.COMPROMISED),
        (
            "accounts",
            PASSWD + "svc-backup:x:0:0::/root:/bin/bash\n",
            "uid0_accounts",
            Verdict.COMPROMISED,
        ),
        (
            "persistence",
            CATALOG_OUT + "E\0f\0f\0/etc/cron.d/sysupdate\0\0",
            "persistence",
            Verdict.SUSPECT,
        ),
        ("suid", "b" * 64 + "  /tmp/.x\0", "suid_files", Verdict.SUSPECT),
    ],
)
def test_each_trace_is_caught_without_baseline(
    fact: str, stdout: str, check: str, verdict: Verdict
) -> None:
    facts = fresh_facts()
    facts[fact] = parse(fact, stdout)
    got, failed = run(facts)
    assert got is verdict and check in failed


@pytest.mark.parametrize(
    ("fact", "stdout", "check", "verdict"),
    [
        ("hashes", "d" * 64 + "  /usr/bin/ls\0", "critical_binaries", Verdict.COMPROMISED),
        (
            "authorized_keys",
            "/root/.ssh/authorized_keys\tssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2 evil\n"
            "/root/.ssh/authorized_keys\tssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1 lab\n",
            "authorized_keys",
            Verdict.SUSPECT,
        ),
        (
            "persistence",
            CATALOG_OUT + "E\0f\0f\0/etc/cron.d/x\0\0" + "e" * 64 + "  /etc/cron.d/x\0",
            "persistence",
            Verdict.SUSPECT,
        ),
        (
            "ports",
            SS + 'tcp LISTEN 0 5 0.0.0.0:4444 0.0.0.0:* users:(("nc",pid=9,fd=3))\n',
            "listening_ports",
            Verdict.SUSPECT,
        ),
    ],
)
def test_drift_from_baseline_is_caught(
    fact: str, stdout: str, check: str, verdict: Verdict
) -> None:
    facts = fresh_facts()
    facts[fact] = parse(fact, stdout)
    got, failed = run(facts, baseline=fresh_facts())
    assert got is verdict and check in failed


def test_modules_compared_except_on_shared_lab_kernel() -> None:
    facts, base = fresh_facts(), fresh_facts()
    facts["modules"] = parse("modules", "nf_tables 1 0 - Live 0x0\n")
    assert run(facts, base)[0] is Verdict.SUSPECT
    lab = Context(indicators=CTX.indicators, shared_kernel=True)
    assert aggregate(evaluate(CATALOG, facts, {}, base, lab)) is Verdict.CLEAN
    facts["modules"] = ["diamorphine"]
    assert aggregate(evaluate(CATALOG, facts, {}, base, lab)) is Verdict.COMPROMISED


def test_a_check_that_could_not_run_is_never_clean() -> None:
    facts = fresh_facts()
    del facts["packages"]
    findings = evaluate(CATALOG, facts, {"packages": "timed out after 120s"}, None, CTX)
    assert aggregate(findings) is Verdict.SUSPECT
    assert any(f.status is FindingStatus.ERROR and "timed out" in f.detail for f in findings)


def test_parsers_refuse_garbage() -> None:
    with pytest.raises(FactError):
        lf.parse_passwd(out("<html>"))
    with pytest.raises(FactError):
        lf.parse_preload(out("", rc=0))
    with pytest.raises(FactError):
        lf.parse_package_verify(CommandOutput(rc=-1, stdout="", timed_out=True))


# Captured from `sha256sum -z` and `find -printf 'L\\0%p\\0%l\\0'` on bookworm (coreutils 9.1,
# findutils 4.9): with -z, names are written as they are, no escaping.
HASH_TREE_CAPTURED = (
    b"L\x00/tmp/zt/d/l\nk\x00t\nx\x00"
    b"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881  /tmp/zt/d/a\nb|c\xff\x00"
)


def test_hash_trees_are_read_exactly_from_nul_separated_records() -> None:
    parsed = lf.parse_hash_tree(out(decode(HASH_TREE_CAPTURED)))
    assert isinstance(parsed, Parsed) and not parsed.unaccounted
    assert parsed.value == {
        "/tmp/zt/d/l\nk": "link:t\nx",
        "/tmp/zt/d/a\nb|c\\xff": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
    }


@pytest.mark.parametrize(
    ("stdout", "unaccounted"),
    [
        ("b" * 64 + "  /usr/bin/su\n" + "b" * 64 + "  /tmp/x\n", "unterminated record"),
        ("b" * 64 + "  /usr/bin/su\0" + "b" * 64 + "  /tmp/.x", "unterminated record"),
        ("B" * 64 + "  /usr/bin/su\0", "BBBB"),
        ("b" * 64 + "  relative\0", "relative"),
        ("L\0/usr/bin/x\0", "link record cut short"),
        ("hello\0", "hello"),
    ],
)
def test_a_hash_tree_record_not_accounted_for_makes_the_host_suspect(
    stdout: str, unaccounted: str
) -> None:
    parsed = lf.parse_hash_tree(out(stdout))
    assert isinstance(parsed, Parsed)
    assert any(unaccounted in item for item in parsed.unaccounted), parsed.unaccounted
    assert "/tmp/x" not in parsed.value and "/tmp/.x" not in parsed.value


def test_suid_and_hash_commands_are_nul_separated_end_to_end() -> None:
    for cmd in (lf.SUID_CMD, lf.hash_tree_cmd(["/usr/bin"])):
        assert "-print0" in cmd and "xargs -0" in cmd and "sha256sum -z" in cmd
    assert "-printf 'L\\0%p\\0%l\\0'" in lf.hash_tree_cmd(["/usr/bin"])


def test_the_hash_command_reads_a_large_tree_of_odd_names_exactly(tmp_path: Path) -> None:
    # Many files with long names: records straddling buffered writes must stay whole.
    expected = {}
    for i in range(600):
        name = tmp_path / f"f{i:03}\n|{'x' * 150}"
        name.write_bytes(str(i).encode())
        expected[str(name)] = hashlib.sha256(str(i).encode()).hexdigest()
    odd = os.fsencode(tmp_path) + b"/bad\xffname"
    Path(os.fsdecode(odd)).write_bytes(b"")
    expected[decode(odd)] = hashlib.sha256(b"").hexdigest()
    (tmp_path / "link\nname").symlink_to("target\n|x")
    expected[f"{tmp_path}/link\nname"] = "link:target\n|x"
    cmd = lf.hash_tree_cmd([str(tmp_path), "/nonexistent"])
    done = subprocess.run(["sh", "-c", cmd], capture_output=True, check=True)
    parsed = lf.parse_hash_tree(out(decode(done.stdout)))
    assert isinstance(parsed, Parsed) and not parsed.unaccounted
    assert parsed.value == expected


def test_changed_since_incident_only_when_asked() -> None:
    since = Context(indicators=CTX.indicators, since=datetime(2026, 11, 20, tzinfo=UTC))
    facts = fresh_facts()
    facts["changed_files"] = parse("changed_files", "10\t/etc/cron.d/x\0")
    findings = evaluate(CATALOG, facts, {}, None, since)
    assert any(
        f.check == "changed_since_incident" and f.status is FindingStatus.FAIL for f in findings
    )
    assert "changed_since_incident" not in {
        f.check for f in evaluate(CATALOG, facts, {}, None, CTX)
    }
    assert "-newermt @1795132800" in lf.changed_cmd(since)


def test_ransom_search_is_one_read_only_find() -> None:
    cmd = lf.ransom_cmd(CTX)
    assert "-iname '*.lockbit'" in cmd and "/srv" in cmd
    assert " rm " not in cmd and "-delete" not in cmd


def test_key_fingerprints_match_ssh_keygen(tmp_path: Any) -> None:
    import subprocess

    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    expected = subprocess.run(
        ["ssh-keygen", "-lf", f"{key}.pub"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    line = f"/root/.ssh/authorized_keys\t{(tmp_path / 'k.pub').read_text()}"
    (entry,) = parse("authorized_keys", line)
    assert entry.split()[2] == expected


ATTACKER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ1c3RlZEJ1c3RlZEJ1c3RlZEJ1c3RlZEJ1c3Rl x@kali"


def test_without_baseline_a_key_root_or_a_system_account_was_not_expected_to_have_is_suspect() -> (
    None
):
    facts = fresh_facts()
    facts["authorized_keys"] = parse(
        "authorized_keys",
        ROOT_KEYS
        + f"/var/lib/postgresql/.ssh/authorized_keys\t{ATTACKER_KEY}\n"
        + f"/home/alice/.ssh/authorized_keys\t{ATTACKER_KEY}\n",
    )
    findings = evaluate(CATALOG, facts, {}, None, CTX)
    (keys,) = [f for f in findings if f.check == "authorized_keys"]
    assert aggregate(findings) is Verdict.SUSPECT and keys.status is FindingStatus.FAIL
    fp = "SHA256:" + base64.b64encode(
        hashlib.sha256(base64.b64decode(ATTACKER_KEY.split()[1])).digest()
    ).decode().rstrip("=")
    assert keys.evidence == (
        "/var/lib/postgresql/.ssh/authorized_keys",
        f"/var/lib/postgresql/.ssh/authorized_keys: ssh-ed25519 {fp} (x@kali)",
    )
    assert ATTACKER_KEY.split()[1] not in keys.detail  # a fingerprint, never the key text
    # a person's key (alice has no passwd line here: not a system home) waits for a baseline
    facts["authorized_keys"] = parse(
        "authorized_keys", ROOT_KEYS + f"/home/alice/.ssh/authorized_keys\t{ATTACKER_KEY}\n"
    )
    assert run(facts) == (Verdict.CLEAN, set())
    # and root's own key is unexpected when the control side does not list it
    bare = Context(indicators=CTX.indicators)
    assert aggregate(evaluate(CATALOG, fresh_facts(), {}, None, bare)) is Verdict.SUSPECT
