"""Which lab twins a rehearsal infects, and how (pure).

A rehearsal must exercise the hard path — evidence, a compromised verdict, reimage, re-check —
on the hosts the graph can rebuild, while hosts that the graph only checks stay clean: a
compromised host with no reimage step rightly fails its run, and a rehearsal that fails by
design teaches nothing. Scenarios:

- `default`: the first host of every service whose steps reimage it is hit by the full
  ransomware scenario of its platform (ransom notes, persistence, backdoor account, ...).
- `clean`: nothing is infected (the fast path: evidence, check, reconnect).
- `all-rebuilt`: every host whose steps reimage it is hit.
- `dwell`: as `default`, and the attacker was in the backups before the incident was
  declared: the graph's seed playbooks are told the scenario (`restore_rehearsal_scenario`)
  and the lab's seed (playbooks/lab_seed_backup.yml) plants the ransomware's staging in the
  last backup before the incident, so the backup scan must pick an older snapshot.
"""

from __future__ import annotations

from restore.models import StepType
from restore.planning.model import RestorePlan

SCENARIOS = ("default", "clean", "all-rebuilt", "dwell")


def infections(plan: RestorePlan, scenario: str) -> dict[str, str]:
    """host -> lab infection scenario name."""
    if scenario not in SCENARIOS:
        raise ValueError(scenario)
    if scenario == "clean":
        return {}
    chosen: dict[str, str] = {}
    seen_services: set[str] = set()
    for host in plan.hosts:
        types = [s.type for s in host.steps]
        if StepType.REIMAGE not in types:
            continue
        # the infection must come before the reimage to be found and then wiped
        if scenario in ("default", "dwell") and host.service in seen_services:
            continue
        seen_services.add(host.service)
        chosen[host.name] = "ransomware"
    return chosen
