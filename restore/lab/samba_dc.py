"""Lab domain controllers: real Samba AD DCs in lab hosts (docs: /work/shared/samba-lab.md).

A DC lab host is a Linux lab host (sshd, so the host checks run on it as on any Linux host)
that also runs `samba` as an AD DC on its management address. Provisioning takes 10-30 s, so
it happens once per machine into a *golden layer* (the overlay upper dir of a provisioned,
seeded, stopped DC) cached next to the rootfs; each DC then boots with
`lowerdir=golden:dc-rootfs` and is answering LDAPS in a few seconds.

Why a rootfs of its own: Samba adds about 300 MB and its package list would change the
common rootfs's cache key, so every lab (tests, molecule, the demo) would rebuild and carry
it. DCs are few; they get a variant (the common packages that the Linux checks and sshd
need, plus Samba), built and cached the same way, under its own key.

Clones of the golden layer share the domain (SID, realm, DC name DC01, CA): fine for
independent per-lab domains, each DC is a domain of its own. The TLS certificate Samba
generates names `DC01.<realm>` (CN only, no IP address), so the inventory gives that name
(`restore_ldap_server_name`) for certificate verification.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restore.errors import OperationalError
from restore.lab import alloc, runtime, twin_files
from restore.lab.rootfs import cache_root, ensure_rootfs

if TYPE_CHECKING:
    from restore.lab.lab import Lab, LabHost

ROLE = "domain_controller"
REALM = "LAB.TEST"
DOMAIN = "LAB"
DC_NAME = "dc01"  # the name every clone carries inside the directory
BASE_DN = "DC=lab,DC=test"
SERVER_NAME = f"{DC_NAME}.{REALM.lower()}"
LDAPS_PORT = 636
READER = "restore-reader"
# The golden layer's format: bump when the provisioning or the seed changes.
GOLDEN_FORMAT = "3"

DC_PACKAGES = (
    # what every Linux lab host has that the host checks and sshd need
    "openssh-server",
    "python3",
    "procps",
    "iproute2",
    "nftables",
    "cron",
    "sudo",
    "kmod",
    "ca-certificates",
    # a Windows DC twin's WS-Man endpoint seals NTLM with it (restore/lab/wsman/server.py)
    "python3-cryptography",
    # Samba AD DC: minbase skips Recommends, so the provisioning modules are named
    "samba",
    "samba-ad-dc",
    "samba-ad-provision",
    "samba-dsdb-modules",
    "samba-vfs-modules",
    "winbind",
    "krb5-user",
    "smbclient",
    "ldb-tools",
)

TLS_DIR = "var/lib/samba/private/tls"

# The seeded directory: what a small hospital's domain looks like before the attack.
SEED_OUS = ("Clinics", "Servers", "Staff", "Service Accounts")
SEED_USERS = (
    ("alice.martin", "Staff"),
    ("bob.dupont", "Staff"),
    ("carol.leroy", "Staff"),
    ("svc-lis", "Service Accounts"),
    ("svc-backup", "Service Accounts"),
)
SEED_GROUPS = (
    ("Biology", "Clinics", ("alice.martin", "carol.leroy")),
    ("Radiology", "Clinics", ("bob.dupont",)),
)
SEED_GPO = "Workstation hardening"

PROVISION_SCRIPT = """#!/bin/bash
set -eux
ADDR={addr}
ADMINPASS={adminpass}
READERPASS={readerpass}
USERPASS={userpass}
rm -f /etc/samba/smb.conf
printf '%s %s %s\\n' "$ADDR" {fqdn} {dc} > /etc/hosts
samba-tool domain provision --realm={realm} --domain={domain} --server-role=dc \\
  --dns-backend=SAMBA_INTERNAL --adminpass="$ADMINPASS" --use-rfc2307 --host-name={dc} \\
  --host-ip="$ADDR" --option="interfaces=$ADDR/8" --option="bind interfaces only=yes"
# the lab must never forward a DNS query off the machine
sed -i '/dns forwarder/d' /etc/samba/smb.conf
printf 'nameserver %s\\n' "$ADDR" > /etc/resolv.conf
cat > /etc/krb5.conf <<EOF
[libdefaults]
  default_realm = {realm}
  dns_lookup_kdc = false
  dns_lookup_realm = false
[realms]
  {realm} = {{
    kdc = $ADDR
  }}
EOF
samba-tool user create {reader} "$READERPASS" --description="restore: directory checks (read only)"
{seed}
# in the foreground of this script: the host lives as long as its boot script has children
/usr/sbin/samba -F -M single >/var/log/samba-provision.log 2>&1 &
SAMBA=$!
for i in $(seq 1 120); do
  if samba-tool gpo listall -H ldap://{fqdn} -U Administrator --password="$ADMINPASS" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
samba-tool gpo create {gpo} -H ldap://{fqdn} -U Administrator --password="$ADMINPASS"
touch /root/provision.done
wait $SAMBA
"""


def dc_rootfs(rebuild: bool = False) -> Path:
    from restore.lab.lab import rootfs_in_use

    return ensure_rootfs(rebuild=rebuild, packages=DC_PACKAGES, in_use=rootfs_in_use)


def _seed_commands(userpass: str) -> str:
    lines = []
    for ou in SEED_OUS:
        lines.append(f"samba-tool ou create {shlex.quote(f'OU={ou},{BASE_DN}')}")
    for user, ou in SEED_USERS:
        lines.append(
            f"samba-tool user create {shlex.quote(user)} {shlex.quote(userpass)} "
            f"--userou={shlex.quote(f'OU={ou}')}"
        )
    for group, ou, members in SEED_GROUPS:
        lines.append(
            f"samba-tool group add {shlex.quote(group)} --groupou={shlex.quote(f'OU={ou}')}"
        )
        lines.append(
            f"samba-tool group addmembers {shlex.quote(group)} {shlex.quote(','.join(members))}"
        )
    # the backup service account is, as in many hospitals, a Backup Operator
    lines.append("samba-tool group addmembers 'Backup Operators' svc-backup")
    return "\n".join(lines)


def images_ready() -> bool:
    """Whether the DC rootfs and its golden layer are built (else about 2 min, once)."""
    from restore.lab.rootfs import built

    rootfs = built(DC_PACKAGES)
    return rootfs is not None and (golden_dir(rootfs) / ".complete").exists()


def golden_dir(rootfs: Path) -> Path:
    return cache_root() / f"dc-golden-{GOLDEN_FORMAT}-{rootfs.name}"


def ensure_golden(lab: Lab, rootfs: Path) -> Path:
    """The provisioned, seeded DC layer for `rootfs`, built once per machine under a lock."""
    golden = golden_dir(rootfs)
    root = cache_root()
    with (root / ".dc-golden.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (golden / ".complete").exists():
            return golden
        _build_golden(lab, rootfs, golden)
        return golden


def _build_golden(lab: Lab, rootfs: Path, golden: Path) -> None:
    root = cache_root()
    build = root / f".dc-build-{os.getpid()}"
    (number,) = alloc.allocate(lab.state_dir, 1)  # a real lab address, never shared
    addr = alloc.management_address(number)
    holder: int | None = None
    try:
        shutil.rmtree(build, ignore_errors=True)
        runtime.mount_tmpfs(build / "rw")
        upper = twin_files.make_dirs(build / "rw" / "upper")  # the build host's "/"
        twin_files.make_dirs(build / "rw" / "work")
        creds = {
            "admin_password": _password(),
            "reader_password": _password(),
            "user_password": _password(),
        }
        twin_files.make_dirs(upper / "root", mode=0o700)
        twin_files.write_file(
            upper / "root" / "provision.sh", _provision_script(addr, creds), 0o700
        )
        daemons = 'chroot "$R" /bin/bash /root/provision.sh >"$R/root/provision.log" 2>&1 &'
        holder = runtime.start(build, rootfs, DC_NAME, daemons, (addr, LDAPS_PORT), timeout_s=180)
        _wait_for(upper / "root" / "provision.done", build, holder, timeout_s=180)
        _stop_samba(holder)
        runtime.kill(holder)
        holder = None
        for leftover in ("provision.sh", "provision.done"):
            (upper / "root" / leftover).unlink(missing_ok=True)
        _store_golden(upper, golden, creds, addr)
    finally:
        if holder is not None:
            log = build / "rw" / "upper" / "root" / "provision.log"
            saved = root / "dc-provision.log"
            if log.exists():
                shutil.copy(log, saved)
            runtime.kill(holder)
        runtime.unmount(build / "rw")
        shutil.rmtree(build, ignore_errors=True)
        alloc.release([number])


def _provision_script(addr: str, creds: dict[str, str]) -> str:
    return PROVISION_SCRIPT.format(
        addr=shlex.quote(addr),
        adminpass=shlex.quote(creds["admin_password"]),
        readerpass=shlex.quote(creds["reader_password"]),
        userpass=shlex.quote(creds["user_password"]),
        fqdn=SERVER_NAME,
        dc=DC_NAME,
        realm=REALM,
        domain=DOMAIN,
        reader=READER,
        seed=_seed_commands(creds["user_password"]),
        gpo=shlex.quote(SEED_GPO),
    )


def _store_golden(upper: Path, golden: Path, creds: dict[str, str], addr: str) -> None:
    """The provisioned upper dir, its secrets and its address, put in place at once."""
    staging = golden.with_name(golden.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # cp -a keeps the NT ACLs (security.NTACL xattrs), POSIX ACLs and overlay whiteouts
    subprocess.run(["cp", "-a", str(upper), str(staging / "upper")], check=True)
    twin_files.write_file(staging / "secrets.json", json.dumps(creds), 0o600)
    (staging / "address").write_text(addr + "\n")
    (staging / ".complete").write_text(GOLDEN_FORMAT + "\n")
    shutil.rmtree(golden, ignore_errors=True)
    staging.rename(golden)


def _wait_for(marker: Path, build: Path, holder: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not marker.exists():
        if not runtime.alive(holder) or time.monotonic() > deadline:
            raise OperationalError(
                "provisioning the lab DC failed; see "
                f"{cache_root() / 'dc-provision.log'} (copied from the build host)"
            )
        time.sleep(0.2)


def _stop_samba(holder: int) -> None:
    """A clean stop (SIGTERM to samba's main process), so that the golden databases are
    consistent. Found from the control side: a PID inside the host's namespace means nothing
    to `kill` run through `nsenter -m`."""

    def samba_pids() -> list[int]:
        found = []
        for pid in runtime.descendants(holder):
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "samba":
                    found.append(pid)
            except OSError:
                continue
        return found

    pids = samba_pids()
    parents = [pid for pid in pids if _parent(pid) not in pids]  # samba's main process
    if not parents:
        raise OperationalError("samba is not running in the golden build host")
    for pid in parents:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while samba_pids():
        if time.monotonic() > deadline:
            raise OperationalError("samba did not stop within 30 s in the golden build")
        time.sleep(0.1)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _password() -> str:
    # AD complexity: upper, lower, digit and symbol classes; random otherwise
    return "Rl-7" + secrets.token_urlsafe(18)


def golden_secrets(golden: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((golden / "secrets.json").read_text())
    return data


# -- one DC host --------------------------------------------------------------------------------

SAMBA_DAEMON = (
    'chroot "$R" /usr/sbin/samba -F --debug-stdout -M single >"$R/var/log/samba-dc.log" 2>&1 &'
)


def seed_dc(golden: Path, host: LabHost, upper: Path) -> None:
    """Per-DC files written into the fresh upper dir before boot: its address everywhere."""
    golden_upper = golden / "upper"
    addr = host.management
    old_addr = (golden / "address").read_text().strip()
    smb_conf = (golden_upper / "etc" / "samba" / "smb.conf").read_text()
    smb_conf = smb_conf.replace(f"{old_addr}/8", f"{addr}/8")
    twin_files.make_dirs(upper / "etc" / "samba")
    twin_files.write_file(upper / "etc" / "samba" / "smb.conf", smb_conf)
    twin_files.write_file(upper / "etc" / "hosts", f"{addr} {SERVER_NAME} {DC_NAME}\n")
    twin_files.write_file(upper / "etc" / "resolv.conf", f"nameserver {addr}\n")
    krb5 = (golden_upper / "etc" / "krb5.conf").read_text().replace(old_addr, addr)
    twin_files.write_file(upper / "etc" / "krb5.conf", krb5)


def boot_lower(golden: Path, rootfs: Path) -> Path:
    """The overlay's lower dirs, golden layer on top (overlayfs takes a colon-separated list)."""
    return Path(f"{golden / 'upper'}:{rootfs}")


def ca_file(lab: Lab, golden: Path) -> Path:
    """The DCs' CA, copied into the lab dir (the merged root is not visible from here)."""
    target = lab.dir / "dc-ca.pem"
    source = golden / "upper" / TLS_DIR / "ca.pem"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copy(source, target)
    return target


def inventory_vars(lab: Lab, host: LabHost) -> dict[str, Any]:
    """What the directory checks and the attacker scenarios need (docs/directory.md)."""
    if not host.rootfs or not (golden_dir(Path(host.rootfs)) / ".complete").exists():
        return {"restore_role": ROLE}  # not booted yet: nothing to connect to
    golden = golden_dir(Path(host.rootfs))
    creds = golden_secrets(golden)
    # each lab DC is a domain of its own (a clone of the golden one), except a replica, which
    # joined its primary's domain (samba_replica.py) and has a CA and a name of its own
    domain_of, server_name, ca = host.name, SERVER_NAME, ca_file(lab, golden)
    if host.replica_of:
        from restore.lab import samba_replica

        domain_of, server_name = host.replica_of, f"{host.name}.{REALM.lower()}"
        ca = samba_replica.ca_file(lab, host) or ca
    return {
        "restore_role": ROLE,
        "restore_ad_domain": f"{REALM.lower()} (lab DC {domain_of})",
        "restore_ldap_server_name": server_name,
        "restore_ldap_ca_file": str(ca),
        "restore_ldap_bind_dn": f"CN={READER},CN=Users,{BASE_DN}",
        "restore_ldap_bind_password": creds["reader_password"],
        # SYSVOL over SMB takes the read account as user@realm (its password is the same)
        "restore_sysvol_user": f"{READER}@{REALM.lower()}",
        # the account the directory steps (rotate_krbtgt) act with; in a real inventory a
        # vaulted account of its own
        "restore_ldap_admin_dn": f"CN=Administrator,CN=Users,{BASE_DN}",
        "restore_ldap_admin_password": creds["admin_password"],
        "restore_lab_domain_admin": f"CN=Administrator,CN=Users,{BASE_DN}",
        "restore_lab_domain_admin_password": creds["admin_password"],
    }
