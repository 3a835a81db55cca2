"""Pure parts of the backup scan: passwd as glibc reads it, keys, last-clean selection."""

from __future__ import annotations

from restore.backups import selection, tree
from restore.backups.analysis import COMPROMISED, NOTE, SUSPECT, Finding
from restore.backups.file_parsers import (
    authorized_keys_from_bytes,
    passwd_from_bytes,
    preload_from_bytes,
    uid_as_glibc,
)


def test_uid_read_as_glibc_wraps_at_32_bits_and_takes_signs_and_blanks() -> None:
    assert uid_as_glibc("4294967296") == 0
    assert uid_as_glibc(" +0") == 0
    assert uid_as_glibc("-1") == 4294967295
    assert uid_as_glibc("0x0") is None
    assert uid_as_glibc("") is None
    assert uid_as_glibc("\u0660") is None  # a non-ASCII digit is not a digit to glibc


def test_passwd_finds_a_hidden_uid0_and_reports_lines_it_cannot_read() -> None:
    data = (
        b"root:x:0:0:root:/root:/bin/bash\n"
        b"  # a comment\n"
        b"svc:x:4294967296:0::/:/bin/sh\n"
        b"broken line\n"
    )
    accounts, odd = passwd_from_bytes(data)
    assert accounts["svc"]["uid"] == 0
    assert odd == ["broken line"]


def test_authorized_keys_from_bytes_keeps_unreadable_lines() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBHnwh4mMqbbQbgtZ2Vc6Hh7h6r8Vd4m0p5cKpuq0Zzz a@b"
    keys, odd = authorized_keys_from_bytes("/root/.ssh/authorized_keys", (key + "\nzzz\n").encode())
    assert len(keys) == 1 and next(iter(keys)).startswith("/root/.ssh/authorized_keys ssh-ed25519")
    assert odd == ["zzz"]


def test_preload_entries() -> None:
    assert preload_from_bytes(b"/lib/x.so\n")["entries"] == ["/lib/x.so"]
    assert preload_from_bytes(b"")["entries"] == []


def test_persistence_paths() -> None:
    assert tree.persistence_kind("/var/spool/cron/crontabs/root") == "cron"
    assert tree.persistence_kind("/etc/systemd/system/x.target.wants/y.service") == "systemd"
    assert tree.persistence_kind("/home/bob/.bashrc") == "shell_startup"
    assert tree.persistence_kind("/var/lib/data.db") is None
    assert tree.is_authorized_keys("/home/bob/.ssh/authorized_keys2")


def _f(severity: str) -> Finding:
    return Finding("x", "", "", severity)


def test_verdicts_and_the_last_clean_before_the_first_alarm() -> None:
    assert selection.verdict([_f(NOTE)]) == "clean"
    assert selection.verdict([_f(SUSPECT), _f(NOTE)]) == "suspect"
    assert selection.verdict([_f(SUSPECT), _f(COMPROMISED)]) == "compromised"
    assert selection.last_clean(["clean", "clean", "suspect", "clean"]) == 1
    assert selection.last_clean(["compromised", "clean"]) is None
    assert selection.last_clean([]) is None


def test_native_reader_unquotes_names_as_restic_stores_them() -> None:
    from restore.backups.native import node_name

    assert node_name("plain.txt") == "plain.txt"
    assert node_name(r"tool\n|\xfe") == "tool\n|\ufffd"
    assert node_name(r"a\\b\"c\u00e9\t") == 'a\\b"c\u00e9\t'
    assert node_name("é\\x41") == "éA"
    assert node_name(r"odd\q") == "oddq"  # an unknown escape is its letter, never a crash
