"""A second lab DC that joins another lab DC's domain and replicates with it.

Every lab DC booted from the golden layer is a domain of its own. A replica instead boots
from the bare DC rootfs and runs `samba-tool domain join` against its primary (another DC of
the same lab, booted first), so that the two replicate as the DCs of one domain do: what
`directory: rotate_krbtgt` waits for between its two resets.

Why the pull interval is 2 s: Samba's change notification did not replicate within 20 s
here (samba-lab.md), and its periodic pull defaults to 300 s; a DC of a real site replicates
in seconds. The replica names its primary in /etc/hosts under the primary's directory name
(dc01.lab.test) and under the DSA's GUID name (`<guid>._msdcs.lab.test`, how a DC finds its
replication partner), since the primary's DNS records still carry the golden build's address.
Samba does not replicate SYSVOL: the replica gets a copy of the primary's when it joins (what
an administrator does with rsync or robocopy), its ACLs reset from the directory. The replica
makes its own TLS CA when it joins: the inventory gives each DC its own CA file, refreshed
when the replica is reimaged (joins again).
"""

from __future__ import annotations

import base64
import shlex
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from restore.directory.connection import DirectoryError
from restore.errors import OperationalError
from restore.lab import runtime, samba_dc, twin_files

if TYPE_CHECKING:
    from restore.lab.lab import Lab, LabHost

PULL_INTERVAL_S = 2

JOIN_SCRIPT = """#!/bin/bash
set -eux
rm -f /etc/samba/smb.conf
samba-tool domain join {domain} DC --server={primary_fqdn} -U Administrator \\
  --password={password} --dns-backend=SAMBA_INTERNAL \\
  --option="interfaces={addr}/8" --option="bind interfaces only=yes"
sed -i '/dns forwarder/d' /etc/samba/smb.conf
sed -i 's/^\\[global\\]$/[global]\\n\\tdreplsrv:periodic_interval = {interval}/' /etc/samba/smb.conf
# SYSVOL as the primary holds it (Samba does not replicate it), then its ACLs from the directory
tar -C /var/lib/samba/sysvol --xattrs --xattrs-include='*' -xpf /root/sysvol.tar
rm -f /root/sysvol.tar
samba-tool ntacl sysvolreset
exec /usr/sbin/samba -F --debug-stdout -M single
"""

# the primary's SYSVOL as its own root reads it (the merged view: golden layer and changes)
SYSVOL_TAR = "tar -C /var/lib/samba/sysvol --xattrs --xattrs-include='*' -cf - . | base64 -w0"


def primary_dsa_guid(lab: Lab, primary: LabHost) -> str:
    """The objectGUID of the primary's NTDS Settings: its replication name's first label."""
    from restore.directory.partners import dsa_identity
    from restore.lab.dc_scenarios import _admin_connection

    conn, _base = _admin_connection(lab, primary)
    try:
        _dn, guid = dsa_identity(conn)
    except DirectoryError as exc:
        raise OperationalError(f"lab DC {primary.name}: {exc}") from None
    finally:
        conn.unbind()
    return str(uuid.UUID(bytes_le=guid))


def seed_replica(lab: Lab, host: LabHost, primary: LabHost, upper: Path) -> None:
    """Per-replica files in its fresh upper dir, before it boots and joins."""
    golden = samba_dc.golden_dir(Path(samba_dc.dc_rootfs()))
    creds = samba_dc.golden_secrets(golden)
    realm = samba_dc.REALM.lower()
    guid = primary_dsa_guid(lab, primary)
    # explicit modes, as for every twin file (restore.lab.twin_files): the CLI's umask is 077
    etc = twin_files.make_dirs(upper / "etc")
    twin_files.write_file(
        etc / "hosts",
        f"{host.management} {host.name}.{realm} {host.name}\n"
        f"{primary.management} {samba_dc.SERVER_NAME} {samba_dc.DC_NAME} {guid}._msdcs.{realm}\n",
    )
    twin_files.write_file(etc / "resolv.conf", f"nameserver {primary.management}\n")
    twin_files.write_file(
        etc / "krb5.conf",
        f"[libdefaults]\n  default_realm = {samba_dc.REALM}\n  dns_lookup_kdc = false\n"
        f"  dns_lookup_realm = false\n[realms]\n  {samba_dc.REALM} = {{\n"
        f"    kdc = {primary.management}\n  }}\n",
    )
    root = twin_files.make_dirs(upper / "root", 0o700)
    twin_files.write_file(root / "sysvol.tar", _primary_sysvol(lab, primary), 0o600)
    twin_files.write_file(  # it holds the domain administrator's password
        root / "join.sh",
        JOIN_SCRIPT.format(
            domain=realm,
            primary_fqdn=samba_dc.SERVER_NAME,
            password=shlex.quote(creds["admin_password"]),
            addr=shlex.quote(host.management),
            interval=PULL_INTERVAL_S,
        ),
        0o600,
    )


def _primary_sysvol(lab: Lab, primary: LabHost) -> bytes:
    """What an administrator copies to a new DC: the primary's SYSVOL, as a tar archive."""
    if primary.holder_pid is None:
        raise OperationalError(f"lab DC {primary.name} is not running: its replica cannot join")
    merged = lab.host_dir(primary.name) / "merged"
    done = runtime.run_inside(primary.holder_pid, merged, SYSVOL_TAR, timeout_s=60.0)
    if done.returncode != 0:
        raise OperationalError(f"reading lab DC {primary.name}'s SYSVOL: {done.stderr.strip()}")
    return base64.b64decode(done.stdout)


DAEMON = 'chroot "$R" /bin/bash /root/join.sh >"$R/var/log/samba-dc.log" 2>&1 &'


def ca_file(lab: Lab, host: LabHost) -> Path | None:
    """The replica's own CA (made at its first start), copied into the lab dir."""
    source = lab.dir / "hosts" / host.name / "rw" / "upper" / samba_dc.TLS_DIR / "ca.pem"
    if not source.exists():
        return None
    target = lab.dir / f"dc-ca-{host.name}.pem"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        target.write_bytes(source.read_bytes())
    return target


def pull_now(lab: Lab, host: LabHost) -> None:
    """Make the replica pull its primary's domain partition now (`samba-tool drs replicate`),
    as the days between an attack and its discovery would have: the rehearsal's attacks are
    on every DC of the domain before the run starts, not 2 s later."""
    if host.holder_pid is None:
        raise OperationalError(f"lab DC {host.name} is not running")
    creds = samba_dc.golden_secrets(samba_dc.golden_dir(Path(samba_dc.dc_rootfs())))
    script = (
        f"samba-tool drs replicate {shlex.quote(host.name)} {samba_dc.DC_NAME} "
        f"{shlex.quote(samba_dc.BASE_DN)} -U Administrator "
        f"--password={shlex.quote(creds['admin_password'])}"
    )
    merged = lab.host_dir(host.name) / "merged"
    done = runtime.run_inside(host.holder_pid, merged, script, timeout_s=60.0)
    if done.returncode != 0:
        raise OperationalError(
            f"lab DC {host.name} could not pull from its primary: {done.stderr.strip()[-300:]}"
        )
