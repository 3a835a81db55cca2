"""Several `-i` for a run: what `run_started` records, what `--resume` accepts, and what a job
on an execution node carries (restore.execution.run_snapshot, restore.ansible.nodes.job_package).

Inventories are real files read by ansible-core; the run end to end (two inventories, the real
CLI, ansible-runner and lab hosts) is tests/integration/test_run_inventories.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from restore.ansible.nodes.job_package import _job_inventory
from restore.ansible.request import PlaybookRequest
from restore.errors import InputError
from restore.execution.journal import Event
from restore.execution.run_snapshot import (
    check_resumed_inventories,
    inventories_fingerprint,
    inventory_fingerprint,
    inventory_record,
    resolved_inventories,
    started_inventories,
)
from restore.inputs.inventory import load_inventory


def _started(detail: dict[str, object]) -> Event:
    return Event(1, "R", "2026-01-01T00:00:00", None, None, None, "run_started", detail, "", "")


@pytest.fixture
def two(tmp_path: Path) -> tuple[str, str]:
    """The address in one file, the group and a variable in the other."""
    hosts, groups = tmp_path / "hosts.yml", tmp_path / "groups.ini"
    hosts.write_text("all:\n  hosts:\n    app1: {ansible_host: 127.0.0.1, app_port: 1}\n")
    groups.write_text("[clinic]\napp1\n\n[clinic:vars]\napp_port=8443\nmarker_text=second\n")
    return str(hosts), str(groups)


def test_one_inventory_records_what_it_always_did(two: tuple[str, str]) -> None:
    record = inventory_record(resolved_inventories(two[0]))
    assert record == {
        "inventory": two[0],
        "inventories": [two[0]],
        "inventory_sha256": inventory_fingerprint(two[0]),
    }


def test_several_are_recorded_in_order_and_fingerprinted_together(two: tuple[str, str]) -> None:
    record = inventory_record(resolved_inventories(two))
    assert record["inventory"] == two[0] and record["inventories"] == list(two)
    assert record["inventory_sha256"] != inventory_fingerprint(two[0])
    assert record["inventory_sha256"] != inventories_fingerprint(two[::-1])  # order counts
    Path(two[1]).write_text("[clinic]\napp1\n")
    assert inventory_record(list(two))["inventory_sha256"] != record["inventory_sha256"]


def test_resume_accepts_the_same_inventories_only(two: tuple[str, str]) -> None:
    events = [_started(inventory_record(two))]
    check_resumed_inventories(events, "R", two)
    for other in ((two[0],), two[::-1], (*two, two[0])):
        with pytest.raises(InputError, match="same inventories in the same order"):
            check_resumed_inventories(events, "R", other)
    Path(two[1]).write_text("[clinic]\napp1\n")
    with pytest.raises(InputError, match="inventory changed since run R"):
        check_resumed_inventories(events, "R", two)


def test_a_run_recorded_before_inventories_existed_is_read_from_its_one_path(
    two: tuple[str, str],
) -> None:
    old = {"inventory": two[0], "inventory_sha256": inventory_fingerprint(two[0])}
    assert started_inventories(old) == (two[0],)
    check_resumed_inventories([_started(old)], "R", (two[0],))
    with pytest.raises(InputError):
        check_resumed_inventories([_started(old)], "R", two)


def test_a_node_job_carries_the_merge_of_every_inventory(two: tuple[str, str]) -> None:
    target = load_inventory(list(two), with_secrets=True).host("app1")
    job = _job_inventory(target)
    app1 = job["all"]["hosts"]["app1"]
    assert app1["ansible_host"] == "127.0.0.1"  # from the first file
    assert app1["marker_text"] == "second"  # from the second
    assert app1["app_port"] == 1  # a host variable wins over the group's, as in Ansible
    assert job["all"]["children"] == {"clinic": {"hosts": {"app1": None}}}


def test_a_request_names_its_secrets_and_play_variables(tmp_path: Path) -> None:
    request = PlaybookRequest(
        playbook=tmp_path / "p.yml",
        host="app1",
        work_dir=tmp_path,
        extravars={"a": 1, "password": "plain"},
        secret_extravars={"password": "s3cret"},
        secrets=("inv-secret",),
    )
    assert request.play_vars() == {"a": 1, "password": "s3cret"}
    assert request.known_secrets() == ["inv-secret", "s3cret"]
    assert "s3cret" not in repr(request) and "inv-secret" not in repr(request)
