"""LDAPS to a domain controller, its certificate verified against the inventory's CA.

Inventory variables (per domain controller):
    restore_role: domain_controller      turns the directory checks on for `restore check`
    restore_ldap_ca_file                 the CA (PEM) that issued the DC's LDAPS certificate
    restore_ldap_server_name             the name the certificate carries (default: ansible_host)
    restore_ldap_port                    default 636
    restore_ldap_bind_dn                 the read account (a DN or user@realm)
    restore_ldap_bind_password           its password (vault it: secret-named, never written)
    restore_ldap_admin_dn / _password    the account `directory: rotate_krbtgt` resets with
    restore_ad_domain                    which domain (when an inventory holds several): the
                                         DCs of one domain are the rotation's replicas

`insecure` (`restore check --ldap-insecure`) skips certificate validation, as
`--winrm-insecure` does for WinRM: explicit, loud, and never the default.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from ldap3 import Connection, Server, Tls
from ldap3.core.exceptions import LDAPException

from restore.models import HostSpec

DEFAULT_PORT = 636


class DirectoryError(Exception):
    """The directory could not be reached or read; the message says which and why."""


@dataclass(frozen=True)
class LdapTarget:
    host: str
    address: str
    port: int
    server_name: str
    ca_file: str | None
    insecure: bool = False

    @classmethod
    def for_host(cls, host: HostSpec, insecure: bool = False) -> LdapTarget:
        ca_file = host.var("restore_ldap_ca_file")
        if not ca_file and not insecure:
            raise DirectoryError(
                f"{host.name}: no restore_ldap_ca_file in the inventory "
                "(the CA of the DC's LDAPS certificate; --ldap-insecure skips validation)"
            )
        return cls(
            host=host.name,
            address=str(host.var("restore_ldap_address") or host.address),
            port=int(host.var("restore_ldap_port") or DEFAULT_PORT),
            server_name=str(host.var("restore_ldap_server_name") or host.address),
            ca_file=str(ca_file) if ca_file else None,
            insecure=insecure,
        )


def bind_credentials(host: HostSpec, prefix: str = "restore_ldap_bind") -> tuple[str, str]:
    user = host.var(f"{prefix}_dn")
    password = host.secret(f"{prefix}_password")
    if not user or not password:
        raise DirectoryError(
            f"{host.name}: {prefix}_dn and {prefix}_password are needed in the inventory"
        )
    return str(user), password


def connect(target: LdapTarget, user: str, password: str, timeout_s: float = 15.0) -> Connection:
    """A bound connection over LDAPS; DirectoryError (never a traceback) when it fails."""
    if target.insecure:
        tls = Tls(validate=ssl.CERT_NONE)
    else:
        tls = Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=target.ca_file,
            valid_names=[target.server_name],
            version=ssl.PROTOCOL_TLS_CLIENT,
        )
    server = Server(
        target.address,
        port=target.port,
        use_ssl=True,
        tls=tls,
        get_info=None,  # no schema read: values stay text, and one round trip less
        connect_timeout=int(timeout_s),
    )
    try:
        conn = Connection(
            server,
            user=user,
            password=password,
            receive_timeout=int(timeout_s),  # ldap3 packs it as an integer
            raise_exceptions=False,
            read_only=False,
            check_names=False,  # no schema read: values are decoded by fetch.py
        )
        if not conn.bind():
            result = conn.result or {}
            raise DirectoryError(
                f"{target.host}: LDAP bind as {user} refused: "
                f"{result.get('description', '?')} {result.get('message', '')}".strip()
            )
    except LDAPException as exc:
        raise DirectoryError(
            f"{target.host}: LDAPS to {target.address}:{target.port} failed: {exc}"
        ) from None
    return conn
