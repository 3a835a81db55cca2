"""Is this inventory host a domain controller? (No LDAP or step import: every check and the
graph loader ask this.)"""

from __future__ import annotations

from restore.models import HostSpec

ROLE = "domain_controller"
# what a `directory:` step of the graph can do (checked by its kind in
# restore.inputs.step_kinds, run by step.py)
ACTIONS = ("rotate_krbtgt", "disable_accounts")


def is_domain_controller(host: HostSpec) -> bool:
    return bool(host.var("restore_role") == ROLE)
