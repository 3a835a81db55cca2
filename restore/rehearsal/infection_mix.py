"""Which lab twins a rehearsal infects, and how (pure).

A rehearsal must exercise the hard path — evidence, a compromised verdict, reimage, re-check —
on the hosts the graph can rebuild, while hosts that the graph only checks stay clean: a
compromised host with no reimage step rightly fails its run, and a rehearsal that fails by
design teaches nothing. Scenarios:

- `default`: the first host of every service whose steps reimage it is hit by the full
  ransomware scenario of its platform (ransom notes, persistence, backdoor account, ...);
  a domain controller also by a hidden mix of directory attacks (new privileged account,
  GPO deploying a task, ...): only the journal says which, after the run.
- `clean`: nothing is infected (the fast path: evidence, check, reconnect).
- `all-rebuilt`: every host whose steps reimage it is hit.
- `dwell`: as `default`, and the attacker was in the backups before the incident was
  declared: the graph's seed playbooks are told the scenario (`restore_rehearsal_scenario`)
  and the lab's seed (playbooks/lab_seed_backup.yml) plants the ransomware's staging in the
  last backup before the incident, so the backup scan must pick an older snapshot.
"""

from __future__ import annotations

import random

from restore.directory.role import is_domain_controller
from restore.models import StepType
from restore.planning.model import RestorePlan

SCENARIOS = ("default", "clean", "all-rebuilt", "dwell")
# what an attacker who held the domain leaves in it (restore.lab.dc_scenarios); krbtgt not
# rotated comes with every attack, nothing to plant
DIRECTORY_ATTACKS = ("privileged-account", "new-user", "spn-user", "gpo-changed")
MIX_SEPARATOR = "+"


def hidden_directory_mix(rng: random.Random) -> tuple[str, ...]:
    """Two to four of the directory attacks, chosen at random at each rehearsal: the crisis
    cell (and the checks) are not told which, so only catching every kind passes."""
    count = rng.randint(2, len(DIRECTORY_ATTACKS))
    chosen = set(rng.sample(DIRECTORY_ATTACKS, count))
    return tuple(a for a in DIRECTORY_ATTACKS if a in chosen)


def scenario_parts(infection: str) -> list[str]:
    """The lab scenarios one infection is made of, in the order to play them."""
    return infection.split(MIX_SEPARATOR)


def infections(
    plan: RestorePlan, scenario: str, rng: random.Random | None = None
) -> dict[str, str]:
    """host -> lab infection: scenario names joined by MIX_SEPARATOR. A domain controller
    that is hit also gets a hidden mix of directory attacks (`rng` chooses it)."""
    if scenario not in SCENARIOS:
        raise ValueError(scenario)
    if scenario == "clean":
        return {}
    chosen: dict[str, str] = {}
    seen_services: set[str] = set()
    directory_hit = False
    for host in plan.hosts:
        types = [s.type for s in host.steps]
        if StepType.REIMAGE not in types:
            continue
        # the infection must come before the reimage to be found and then wiped
        if scenario in ("default", "dwell") and host.service in seen_services:
            continue
        seen_services.add(host.service)
        chosen[host.name] = "ransomware"
        # one domain, one attacker: the directory attacks land on the first DC hit and
        # replicate to the others
        if is_domain_controller(host.bound.spec) and not directory_hit:
            directory_hit = True
            mix = hidden_directory_mix(rng or random.SystemRandom())
            chosen[host.name] = MIX_SEPARATOR.join(("ransomware", *mix))
    return chosen
