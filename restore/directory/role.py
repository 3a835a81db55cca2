"""Is this inventory host a domain controller? (No LDAP import: every check asks this.)"""

from __future__ import annotations

from restore.models import HostSpec

ROLE = "domain_controller"


def is_domain_controller(host: HostSpec) -> bool:
    return bool(host.var("restore_role") == ROLE)
