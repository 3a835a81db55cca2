"""The rehearsal's domain controllers (pure parts): the hidden directory attacks on one DC,
and which lab DCs replicate with which, from the example hospital and small inventories."""

from __future__ import annotations

import random
from pathlib import Path

import yaml

from restore.inputs.graph import load_graph
from restore.inputs.inventory import load_inventory
from restore.planning.plan import build_plan
from restore.rehearsal.infection_mix import (
    DIRECTORY_ATTACKS,
    hidden_directory_mix,
    infections,
    scenario_parts,
)
from restore.rehearsal.twins import replica_twins

ROOT = Path(__file__).resolve().parents[2]
HOSPITAL = ROOT / "dependency_graphs" / "hospital.yaml"
HOSPITAL_INVENTORY = ROOT / "inventory" / "hospital.yml"


def hospital_plan():  # type: ignore[no-untyped-def]
    return build_plan(load_graph(HOSPITAL), load_inventory(HOSPITAL_INVENTORY))


def test_one_dc_of_the_hospital_gets_a_hidden_mix_the_other_hosts_do_not() -> None:
    infected = infections(hospital_plan(), "default", random.Random(7))
    dc01 = scenario_parts(infected["dc01"])
    assert dc01[0] == "ransomware"
    assert 2 <= len(dc01[1:]) <= len(DIRECTORY_ATTACKS)
    assert set(dc01[1:]) <= set(DIRECTORY_ATTACKS)
    # one domain, one attacker: the other DC is hit on its host only, as every other service's
    # first rebuilt host is
    assert infected["dc02"] == "ransomware" and infected["pg01"] == "ransomware"
    assert all(len(scenario_parts(v)) == 1 for h, v in infected.items() if h != "dc01")
    assert infections(hospital_plan(), "clean", random.Random(7)) == {}


def test_the_mix_varies_and_every_attack_comes_up() -> None:
    rng = random.Random(1)
    mixes = [hidden_directory_mix(rng) for _ in range(60)]
    assert len(set(mixes)) > 3
    assert {a for mix in mixes for a in mix} == set(DIRECTORY_ATTACKS)
    assert all(len(set(mix)) == len(mix) >= 2 for mix in mixes)


def write(tmp: Path, hosts: dict[str, dict[str, str]]) -> Path:
    dcs = {name: {"restore_role": "domain_controller", **extra} for name, extra in hosts.items()}
    path = tmp / "inv.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"dcs": {"hosts": dcs}}}}))
    return path


def test_the_dcs_of_one_domain_replicate_with_the_first(tmp_path: Path) -> None:
    hospital = load_inventory(HOSPITAL_INVENTORY)
    assert replica_twins([hospital.host("dc01"), hospital.host("dc02")]) == {"dc02": "dc01"}
    inventory = load_inventory(
        write(
            tmp_path,
            {
                "a1": {"restore_ad_domain": "a.test"},
                "b1": {"restore_ad_domain": "b.test"},
                "a2": {"restore_ad_domain": "a.test"},
                "a3": {"restore_ad_domain": "a.test"},
            },
        )
    )
    hosts = [inventory.host(n) for n in ("a1", "b1", "a2", "a3")]
    assert replica_twins(hosts) == {"a2": "a1", "a3": "a1"}
    # the order given (the graph's) decides which DC is the first
    assert replica_twins(hosts[::-1]) == {"a2": "a3", "a1": "a3"}
