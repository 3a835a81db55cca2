"""Is this inventory host a domain controller? (No LDAP or step import: every check and the
graph loader ask this.)"""

from __future__ import annotations

from collections.abc import Iterable

from restore.models import HostSpec

ROLE = "domain_controller"
# what a `directory:` step of the graph can do (checked by its kind in
# restore.inputs.step_kinds, run by step.py)
ACTIONS = ("rotate_krbtgt", "disable_accounts")


def is_domain_controller(host: HostSpec) -> bool:
    return bool(host.var("restore_role") == ROLE)


def same_domain(host: HostSpec, hosts: Iterable[HostSpec]) -> list[HostSpec]:
    """The other domain controllers of `hosts` in `host`'s domain (`restore_ad_domain`, when
    an inventory holds several): they share its krbtgt and replicate with it."""
    domain = host.var("restore_ad_domain")
    return [
        h
        for h in hosts
        if is_domain_controller(h) and h.name != host.name and h.var("restore_ad_domain") == domain
    ]
