"""Booting twins: each one's fresh identity, its daemons, its ports open; many at once.

A Linux twin is sshd plus the lab's responder (restore/lab/app.py); a Windows twin the
WS-Man endpoint (restore.lab.windows); a domain controller a Linux twin over the Samba
golden layer (restore.lab.samba_dc). Everything written into a twin's root gets the mode a
stock install gives it (restore.lab.twin_files), never through the process umask.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from restore.errors import OperationalError
from restore.lab import runtime, twin_files
from restore.lab.app import APP_SOURCE
from restore.lab.lab_host import APP_PORT, SSH_PORT, LabHost
from restore.lab.rootfs import set_golden_times
from restore.models import Platform

if TYPE_CHECKING:
    from restore.lab.lab import Lab

# Hosts booted at once by `up`: enough to hide each boot's waits on two cores, few enough that
# the boots' own processes (mount, ssh-keygen, unshare) do not thrash the machine.
BOOT_WORKERS = 16

SSHD_CONFIG = """ListenAddress {mgmt}:22
ListenAddress {prod}:22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
"""


def boot_all(
    lab: Lab,
    hosts: list[LabHost],
    record: Callable[[], None],
    progress: Callable[[str], None] | None = None,
) -> None:
    """Boot the hosts that are not running, BOOT_WORKERS at a time: a boot mostly waits
    (mount, ssh-keygen, sshd listening), so 1,000 twins start in parallel, not in series.
    One host's failure does not stop the others; the first is raised once all are done.
    `record` saves the lab's state after each boot (holder PIDs recorded for `lab down`);
    `progress` gets each host's name once it is up (from this thread)."""
    todo = [h for h in hosts if not runtime.alive(h.holder_pid)]
    for host in hosts:
        if host not in todo and progress is not None:
            progress(host.name)
    if any(h.platform == Platform.WINDOWS.value for h in todo):
        # created once, before the parallel boots that all read them
        from restore.lab.windows import ensure_ca, lab_password

        ensure_ca(lab.dir)
        lab_password(lab)
    errors: list[BaseException] = []
    # a DC replica joins a running primary: it boots as soon as its primary is up, while the
    # other hosts go on booting (a join takes several seconds)
    booting = {h.name for h in todo}
    waiting = [h for h in todo if h.replica_of in booting]
    with cf.ThreadPoolExecutor(max_workers=BOOT_WORKERS, thread_name_prefix="lab-boot") as pool:
        pending = {pool.submit(boot, lab, h, True): h for h in todo if h not in waiting}
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                host = pending.pop(future)
                error = future.exception()
                if error is not None:
                    errors.append(error)
                record()
                if progress is not None:
                    progress(host.name)
                for replica in [r for r in waiting if r.replica_of == host.name]:
                    waiting.remove(replica)
                    if error is None:
                        pending[pool.submit(boot, lab, replica, True)] = replica
    if errors:
        raise errors[0]


class _Daemons(NamedTuple):
    """How one twin boots: its daemons' lines, the port that says it is up, its image."""

    lines: str
    wait_port: int
    image: Path  # the golden image it runs on (kept while it runs)
    lower: Path  # the overlay's lower dir(s)
    timeout_s: float
    also_port: int | None = None  # a second daemon's port, open by then too (WS-Man of a DC)


def boot(lab: Lab, host: LabHost, fresh: bool) -> None:
    """Boot one twin; `fresh` first wipes its upper dir and writes a new identity."""
    host_dir = lab.host_dir(host.name)
    rw = host_dir / "rw"
    runtime.mount_tmpfs(rw)
    if fresh:
        for sub in ("upper", "work"):
            shutil.rmtree(rw / sub, ignore_errors=True)
        # the upper dir is the twin's "/": its packages' modes, not the CLI's private ones
        twin_files.make_dirs(rw / "upper")
        twin_files.make_dirs(rw / "work")
        seed(lab, host, rw / "upper")
    daemons = _daemons(lab, host, rw / "upper", fresh)
    if fresh:  # the twin's identity is part of its image: as old as the image's files
        set_golden_times(rw / "upper")
    host.rootfs = str(daemons.image)
    host.holder_pid = runtime.start(
        host_dir,
        daemons.lower,
        host.name,
        daemons.lines,
        (host.management, daemons.wait_port),
        daemons.timeout_s,
    )
    host.faults = [f for f in host.faults if f == "unreachable"]
    wait_ports(host, also=daemons.also_port)


def _daemons(lab: Lab, host: LabHost, upper: Path, fresh: bool) -> _Daemons:
    assert lab.rootfs is not None
    if host.role == "domain_controller":
        return _dc_daemons(lab, host, upper, fresh)
    if host.platform == Platform.WINDOWS.value:
        lines, wait_port = _windows_lines(lab, host, upper, fresh)
        return _Daemons(lines, wait_port, lab.rootfs, lab.rootfs, 15.0)
    return _Daemons(runtime.LINUX_DAEMONS, SSH_PORT, lab.rootfs, lab.rootfs, 15.0)


def _windows_lines(lab: Lab, host: LabHost, upper: Path, fresh: bool) -> tuple[str, int]:
    from restore.lab.windows import boot_commands

    lines, wait_port = boot_commands(lab, host, upper, fresh)
    if host.ports:  # the responder for the graph's probes, next to WS-Man
        lines = runtime.LINUX_DAEMONS.splitlines()[0] + "\n" + lines
    return lines, wait_port


def _dc_daemons(lab: Lab, host: LabHost, upper: Path, fresh: bool) -> _Daemons:
    """A domain controller: Samba AD on the DC image, next to sshd (a Linux DC) or next to
    the WS-Man endpoint (a Windows DC: its host answers WinRM, its directory is Samba's). A
    replica joins its primary's domain (the join takes 6-30 s); any other DC boots from the
    golden DC."""
    from restore.lab import samba_dc, samba_replica

    base = samba_dc.dc_rootfs()
    if host.replica_of:
        if fresh:
            samba_replica.seed_replica(lab, host, lab.host(host.replica_of), upper)
        samba, lower, timeout_s = samba_replica.DAEMON, base, 180.0
    else:
        golden = samba_dc.ensure_golden(lab, base)
        if fresh:
            samba_dc.seed_dc(golden, host, upper)
        samba, lower, timeout_s = samba_dc.SAMBA_DAEMON, samba_dc.boot_lower(golden, base), 60.0
    if host.platform == Platform.WINDOWS.value:
        lines, wsman = _windows_lines(lab, host, upper, fresh)
        return _Daemons(lines + "\n" + samba, samba_dc.LDAPS_PORT, base, lower, timeout_s, wsman)
    lines = runtime.LINUX_DAEMONS + "\n" + samba
    return _Daemons(lines, samba_dc.LDAPS_PORT, base, lower, timeout_s, SSH_PORT)


def wait_ports(host: LabHost, timeout_s: float = 15.0, also: int | None = None) -> None:
    """A twin is up once its graph's probes would find their ports open (the responder
    starts next to sshd, which the boot waited for), and `also` (a DC's sshd or WS-Man)."""
    deadline = time.monotonic() + timeout_s
    for port in [*host.ports, *([also] if also else [])]:
        while not runtime.port_open(host.management, port, timeout=0.2):
            if time.monotonic() > deadline:
                raise OperationalError(
                    f"lab host {host.name} did not listen on {host.management}:{port} "
                    f"in {timeout_s:.0f}s"
                )
            time.sleep(0.05)


def seed(lab: Lab, host: LabHost, upper: Path) -> None:
    """Write the host's identity into its fresh upper dir before it boots, each file and
    directory with the mode a stock install gives it (restore.lab.twin_files)."""
    etc_ssh = twin_files.make_dirs(upper / "etc" / "ssh")
    key = etc_ssh / "ssh_host_ed25519_key"
    # a new host key at every (re)image, generated here: the lab is the trusted path
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(key)],
        check=True,
        umask=twin_files.TWIN_UMASK,  # its .pub readable by all, as sshd's own would be
    )
    twin_files.write_file(
        etc_ssh / "restore_sshd_config",
        SSHD_CONFIG.format(mgmt=host.management, prod=host.production),
    )
    root_ssh = twin_files.make_dirs(upper / "root" / ".ssh", mode=0o700)
    twin_files.write_file(
        root_ssh / "authorized_keys", lab.key_file.with_suffix(".pub").read_text(), 0o600
    )
    twin_files.write_file(upper / "etc" / "hostname", host.name + "\n")
    app = twin_files.make_dirs(upper / "usr" / "local" / "bin") / "restore-lab-app"
    twin_files.write_file(app, APP_SOURCE, 0o755)
    twin_files.write_file(
        upper / "etc" / "restore-lab-app.json",
        json.dumps(
            {
                "port": APP_PORT,
                "ports": sorted({APP_PORT, *host.ports}),
                "addresses": [host.management, host.production],
            }
        ),
    )
    twin_files.make_dirs(upper / "var" / "log")
    twin_files.make_dirs(upper / "srv" / "data")
