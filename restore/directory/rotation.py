"""`directory: rotate_krbtgt`: two resets of krbtgt's password, proven by its key version.

As Microsoft's New-KrbtgtKeys.ps1 does: reset once, wait until every domain controller of
the inventory that replicates with this one (restore.directory.partners: during a forest
recovery the not-yet-rebuilt DCs do not) shows the new key version (a DC that has not
replicated the first reset would refuse tickets the others issue after the second), reset
again, and prove the key version moved by exactly two. The passwords are random, sent once
over LDAPS and never kept, printed or journaled: nobody ever needs krbtgt's password.

The account that resets comes from the inventory: `restore_ldap_admin_dn` and
`restore_ldap_admin_password` (vault it; a member of Domain Admins, or delegated the reset
right on krbtgt).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from restore.directory.connection import DirectoryError, LdapTarget, bind_credentials, connect
from restore.directory.fetch import base_dn
from restore.directory.krbtgt import KrbtgtState, read_state, reset_password
from restore.directory.partners import replication_partners
from restore.models import HostSpec

ADMIN_PREFIX = "restore_ldap_admin"


@dataclass(frozen=True)
class Rotation:
    before: KrbtgtState
    after: KrbtgtState
    replicas: tuple[str, ...]  # the other DCs that showed the first reset before the second
    # inventory DCs of the domain this DC does not replicate with (restore.directory.partners)
    not_replicas: tuple[tuple[str, str], ...] = ()


def _read(host: HostSpec, insecure: bool) -> KrbtgtState:
    conn = connect(LdapTarget.for_host(host, insecure), *bind_credentials(host))
    try:
        return read_state(conn, base_dn(conn))
    finally:
        conn.unbind()


def wait_for_replicas(
    replicas: Sequence[HostSpec],
    key_version: int,
    timeout_s: float,
    insecure: bool,
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Until every replica shows at least `key_version`; DirectoryError on timeout."""
    deadline = time.monotonic() + timeout_s
    waiting = list(replicas)
    while waiting:
        waiting = [r for r in waiting if _read(r, insecure).key_version < key_version]
        if not waiting:
            return
        if time.monotonic() > deadline or cancelled():
            names = ", ".join(r.name for r in waiting)
            raise DirectoryError(
                f"{names} did not show krbtgt key version {key_version} within "
                f"{timeout_s:.0f}s; the second reset was NOT made (replication first)"
            )
        time.sleep(2.0)


def rotate_krbtgt(
    host: HostSpec,
    replicas: Sequence[HostSpec] = (),
    *,
    insecure: bool = False,
    replication_timeout_s: float = 600.0,
    cancelled: Callable[[], bool] = lambda: False,
) -> Rotation:
    target = LdapTarget.for_host(host, insecure)
    conn = connect(target, *bind_credentials(host, ADMIN_PREFIX))
    try:
        base = base_dn(conn)
        partners = replication_partners(conn, replicas, insecure)
        before = read_state(conn, base)
        reset_password(conn, before.dn)
        first = read_state(conn, base)
        if first.key_version != before.key_version + 1:
            raise DirectoryError(
                f"after the first reset krbtgt's key version is {first.key_version}, "
                f"expected {before.key_version + 1}"
            )
        wait_for_replicas(
            partners.replicating, first.key_version, replication_timeout_s, insecure, cancelled
        )
        reset_password(conn, before.dn)
        after = read_state(conn, base)
    finally:
        conn.unbind()
    if after.key_version != before.key_version + 2:
        raise DirectoryError(
            f"krbtgt's key version went {before.key_version} -> {after.key_version}, "
            "not +2: another change raced the rotation"
        )
    return Rotation(
        before=before,
        after=after,
        replicas=tuple(r.name for r in partners.replicating),
        not_replicas=partners.not_replicating,
    )
