"""Infection scenarios for lab domain controllers, played over LDAPS as the attacker would,
with the lab-only domain administrator (`restore_lab_domain_admin`).

    privileged-account   a new account, put in Domain Admins (nested through a new group)
    new-user             a user created after the incident
    spn-user             a service principal name added to an existing user (Kerberoasting)
    gpo-changed          a GPO edited after the incident, carrying an immediate scheduled
                         task in SYSVOL (the way LockBit spreads): the task written over SMB
                         into the GPO's folder, the GPO's version bumped over LDAP
    gpo-backdated        the same immediate task written over SMB into the GPO's folder with
                         its times set a year back, and the GPO left as it was in LDAP: what
                         a write-time check misses and a baseline's hashes catch
    krbtgt-not-rotated   nothing to plant: krbtgt keeps the key the attacker may hold
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ldap3 import MODIFY_ADD, MODIFY_REPLACE, Connection

from restore.directory.connection import DirectoryError, LdapTarget, connect
from restore.errors import InputError, OperationalError

if TYPE_CHECKING:
    from restore.lab.lab import Lab, LabHost

DC_SCENARIOS = (
    "privileged-account",
    "new-user",
    "spn-user",
    "gpo-changed",
    "gpo-backdated",
    "krbtgt-not-rotated",
)
BACKDATED_BY = timedelta(days=365)

SCHEDULED_TASK = """<?xml version="1.0" encoding="utf-8"?>
<ScheduledTasks clsid="{CC63F200-7309-4ba0-B154-A71CD118DBCC}">
  <ImmediateTaskV2 clsid="{9756B581-76EC-4169-9AFC-0CA8D43ADB5F}" name="update" image="0"
    changed="2026-11-20 01:02:03" uid="{D98A502B-7563-4A3D-A4EA-5B4F1C2E9F11}">
    <Properties action="C" name="update" runAs="NT AUTHORITY\\System" logonType="S4U">
      <Task version="1.3"><Actions Context="Author"><Exec>
        <Command>\\\\lab.test\\netlogon\\locker.exe</Command>
      </Exec></Actions></Task>
    </Properties>
  </ImmediateTaskV2>
</ScheduledTasks>
"""


def _admin_connection(lab: Lab, host: LabHost) -> tuple[Connection, str]:
    from restore.lab import samba_dc

    if not host.rootfs:
        raise OperationalError(f"lab DC {host.name} has not booted (restore lab up)")
    golden = samba_dc.golden_dir(Path(host.rootfs))
    creds = samba_dc.golden_secrets(golden)
    server_name, ca = samba_dc.SERVER_NAME, samba_dc.ca_file(lab, golden)
    if host.replica_of:  # a replica has a name and a CA of its own (samba_replica.py)
        from restore.lab import samba_replica

        server_name = f"{host.name}.{samba_dc.REALM.lower()}"
        ca = samba_replica.ca_file(lab, host) or ca
    target = LdapTarget(
        host=host.name,
        address=host.management,
        port=samba_dc.LDAPS_PORT,
        server_name=server_name,
        ca_file=str(ca),
    )
    admin = f"CN=Administrator,CN=Users,{samba_dc.BASE_DN}"
    try:
        return connect(target, admin, creds["admin_password"]), samba_dc.BASE_DN
    except DirectoryError as exc:
        raise OperationalError(f"lab DC {host.name}: {exc}") from None


def _must(conn: Connection, ok: bool, what: str) -> None:
    if not ok:
        raise OperationalError(f"{what}: {(conn.result or {}).get('message') or conn.result}")


def _add_user(lab: Lab, conn: Connection, base: str, name: str) -> str:
    """An enabled account with a password, as the attacker's: it can bind until disabled.
    The password goes to `<lab>/dc-attacker-passwords.json` (0600) so tests can try it."""
    from restore.directory.krbtgt import random_password

    dn = f"CN={name},CN=Users,{base}"
    password = random_password(24)
    _must(
        conn,
        conn.add(
            dn,
            ["top", "person", "organizationalPerson", "user"],
            {
                "sAMAccountName": name,
                "userPrincipalName": f"{name}@lab.test",
                "unicodePwd": f'"{password}"'.encode("utf-16-le"),
                "userAccountControl": "512",  # a normal, enabled account
            },
        ),
        f"creating {name}",
    )
    store = lab.dir / "dc-attacker-passwords.json"
    known = json.loads(store.read_text()) if store.exists() else {}
    known[name] = password
    store.touch(mode=0o600)
    store.write_text(json.dumps(known))
    return dn


def infect_dc(lab: Lab, host: LabHost, scenario: str) -> None:
    if scenario not in DC_SCENARIOS:
        from restore.inputs.graph import did_you_mean

        raise InputError(
            f"unknown domain controller scenario '{scenario}'",
            hint=did_you_mean(scenario, DC_SCENARIOS) or f"one of {', '.join(DC_SCENARIOS)}",
        )
    if scenario == "krbtgt-not-rotated":
        return
    conn, base = _admin_connection(lab, host)
    try:
        if scenario == "privileged-account":
            user = _add_user(lab, conn, base, "svc-sync")
            group = f"CN=IT Support Tier,CN=Users,{base}"
            _must(
                conn,
                conn.add(group, ["top", "group"], {"sAMAccountName": "IT Support Tier"}),
                "creating the nesting group",
            )
            _must(conn, conn.modify(group, {"member": [(MODIFY_ADD, [user])]}), "nesting")
            domain_admins = f"CN=Domain Admins,CN=Users,{base}"
            _must(
                conn,
                conn.modify(domain_admins, {"member": [(MODIFY_ADD, [group])]}),
                "adding the group to Domain Admins",
            )
        elif scenario == "new-user":
            _add_user(lab, conn, base, "helpdesk.temp")
        elif scenario == "spn-user":
            dn = f"CN=alice.martin,OU=Staff,{base}"
            spn = "MSSQLSvc/db01.lab.test:1433"
            _must(
                conn,
                conn.modify(dn, {"servicePrincipalName": [(MODIFY_ADD, [spn])]}),
                "adding the SPN",
            )
        elif scenario == "gpo-changed":
            _gpo_changed(lab, host, conn, base)
        elif scenario == "gpo-backdated":
            guid = _seeded_gpo(conn, base)[1]
            write_sysvol(
                lab,
                host,
                f"Policies/{guid}/Machine/Preferences/ScheduledTasks/ScheduledTasks.xml",
                SCHEDULED_TASK.encode(),
                modified=datetime.now(UTC) - BACKDATED_BY,
            )
    finally:
        conn.unbind()


def _seeded_gpo(conn: Connection, base: str) -> tuple[str, str, list[str] | str]:
    """The seeded GPO's DN, GUID ({...}) and versionNumber as LDAP gave it."""
    from restore.lab import samba_dc

    conn.search(
        f"CN=Policies,CN=System,{base}",
        f"(displayName={samba_dc.SEED_GPO})",
        attributes=["name", "versionNumber"],
    )
    found = [r for r in conn.response or [] if r.get("type") == "searchResEntry"]
    if not found:
        raise OperationalError(f"no GPO '{samba_dc.SEED_GPO}' in {base}")
    guid = found[0]["attributes"]["name"]
    guid = guid[0] if isinstance(guid, list) else guid
    return found[0]["dn"], guid, found[0]["attributes"].get("versionNumber") or ["0"]


def _gpo_changed(lab: Lab, host: LabHost, conn: Connection, base: str) -> None:
    dn, guid, current = _seeded_gpo(conn, base)
    version = int(current[0] if isinstance(current, list) else current) + 1
    _must(
        conn,
        conn.modify(dn, {"versionNumber": [(MODIFY_REPLACE, [str(version)])]}),
        "bumping the GPO version",
    )
    write_sysvol(
        lab,
        host,
        f"Policies/{guid}/Machine/Preferences/ScheduledTasks/ScheduledTasks.xml",
        SCHEDULED_TASK.encode(),
    )


def write_sysvol(
    lab: Lab, host: LabHost, path: str, data: bytes, modified: datetime | None = None
) -> None:
    """Write a file into the DC's SYSVOL over SMB as the lab domain admin (folders made as
    needed), as an attacker holding the domain does from any machine of it; with `modified`,
    its access and write times set to it afterwards, as SMB lets the writer do."""
    import smbclient
    from smbprotocol.exceptions import SMBException

    from restore.lab import samba_dc

    if not host.rootfs:
        raise OperationalError(f"lab DC {host.name} has not booted (restore lab up)")
    creds = samba_dc.golden_secrets(samba_dc.golden_dir(Path(host.rootfs)))
    cache: dict[str, object] = {}
    root = rf"\\{host.management}\sysvol\{samba_dc.REALM.lower()}"
    try:
        smbclient.register_session(
            host.management,
            username=f"Administrator@{samba_dc.REALM.lower()}",
            password=creds["admin_password"],
            connection_cache=cache,
            auth_protocol="ntlm",
        )
        parts = path.split("/")
        folder = root
        for part in parts[:-1]:
            folder = rf"{folder}\{part}"
            smbclient.makedirs(folder, exist_ok=True, connection_cache=cache)
        target = rf"{folder}\{parts[-1]}"
        with smbclient.open_file(target, mode="wb", connection_cache=cache) as out:
            out.write(data)
        if modified is not None:
            stamp = modified.timestamp()
            smbclient.utime(target, times=(stamp, stamp), connection_cache=cache)
    except (SMBException, OSError) as exc:
        raise OperationalError(f"writing {path} into SYSVOL of {host.name}: {exc}") from None
    finally:
        smbclient.reset_connection_cache(connection_cache=cache)
