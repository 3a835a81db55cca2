"""Execution nodes on real lab hosts: two sites, each with its own node running ansible-runner's
worker, driven over SSH by transmit | worker | process. Proves where playbooks execute, and
the failure cases: a node down, a link cut mid-job and restored, a link lost for good, a
cancel, and a wrong target host key refused on the node."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore.ansible.nodes.remote import run_playbook_on_node
from restore.ansible.request import PlaybookRequest
from restore.ansible.runner import PlaybookResult
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.models import Inventory, Platform
from restore.transports.ssh import SshTransport

RESTORE = Path(sys.executable).parent / "restore"
MARKER = """
- name: Marker
  hosts: all
  gather_facts: false
  tasks:
    - name: Record which controller ran this, once per run of the task
      ansible.builtin.shell: >-
        sleep {{ pause | default(0) }};
        echo {{ lookup('pipe', 'hostname') | quote }} >> /srv/data/executed-by
      changed_when: true
"""


class Sites:
    def __init__(self, base: Path, lab: Lab, inventory: Path) -> None:
        self.base = base
        self.lab = lab
        self.inventory = inventory

    def hosts(self) -> Inventory:
        return load_inventory(self.inventory, with_secrets=True)

    def on(self, host: str, command: str) -> str:
        return SshTransport(self.hosts().host(host)).run(command, 30).stdout

    def executed_by(self, host: str) -> list[str]:
        return self.on(host, "cat /srv/data/executed-by 2>/dev/null").split()

    def forget(self, host: str) -> None:
        self.on(host, "rm -f /srv/data/executed-by")


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    base = tmp_path_factory.mktemp("sites")
    lab = Lab(base / "lab")
    try:
        lab_inventory = lab.up(
            [
                ("node1", Platform.LINUX),
                ("node2", Platform.LINUX),
                ("lab1", Platform.LINUX),
                ("pacs1", Platform.LINUX),
                ("ris1", Platform.LINUX),
                ("dc1", Platform.LINUX),
            ]
        )
        data = yaml.safe_load(Path(lab_inventory).read_text())
        hosts = data["all"]["children"]["lab_linux"]["hosts"]
        hosts["lab1"]["restore_execution_node"] = "node1"
        for name in ("pacs1", "ris1"):
            hosts[name]["restore_execution_node"] = "node2"
        inventory = base / "sites.yml"
        inventory.write_text(yaml.safe_dump(data))
        (base / "playbooks").mkdir()
        (base / "playbooks" / "marker.yml").write_text(MARKER)
        for node in ("node1", "node2"):
            done = subprocess.run(
                [str(RESTORE), "node", "install", node, "-i", str(inventory)],
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        yield Sites(base, lab, inventory)
    finally:
        Lab(base / "lab").down()


def _graph(base: Path) -> Path:
    graph = {
        "version": 1,
        "name": "two sites",
        "playbook_dir": "playbooks",
        "services": [
            {"id": "dc", "priority": 2, "hosts": ["dc1"], "steps": [{"ansible": "marker.yml"}]},
            {
                "id": "lab",
                "priority": 1,
                "hosts": ["lab1"],
                "depends_on": ["dc"],
                "steps": [{"ansible": "marker.yml"}],
            },
            {
                "id": "pacs",
                "priority": 1,
                "hosts": ["pacs1"],
                "depends_on": ["dc"],
                "steps": [{"ansible": "marker.yml"}],
            },
            {
                "id": "ris",
                "priority": 1,
                "hosts": ["ris1"],
                "depends_on": ["pacs"],
                "steps": [{"ansible": "marker.yml"}],
            },
        ],
    }
    path = base / "graph.yaml"
    path.write_text(yaml.safe_dump(graph, sort_keys=False))
    return path


def _run(sites: Sites, state: str) -> tuple[int, dict[str, dict[str, object]]]:
    done = subprocess.run(
        [
            str(RESTORE),
            "run",
            str(_graph(sites.base)),
            "-i",
            str(sites.inventory),
            "--max-parallel",
            "2",
            "--yes",
            "--format",
            "json",
            "--state-dir",
            str(sites.base / state),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, {h["host"]: h for h in json.loads(done.stdout)["hosts"]}


def test_each_site_runs_on_its_own_node_and_the_rest_from_here(sites: Sites) -> None:
    for host in ("lab1", "pacs1", "ris1", "dc1"):
        sites.forget(host)
    code, hosts = _run(sites, "state-two-sites")
    assert code == 0, hosts
    assert sites.executed_by("lab1") == ["node1"]
    assert sites.executed_by("pacs1") == ["node2"]
    assert sites.executed_by("ris1") == ["node2"]
    control = subprocess.run(["hostname"], capture_output=True, text=True, check=True)
    assert sites.executed_by("dc1") == [control.stdout.strip()]


def test_a_node_down_fails_its_site_and_blocks_dependents_while_the_other_site_goes_on(
    sites: Sites,
) -> None:
    for host in ("lab1", "pacs1", "ris1"):
        sites.forget(host)
    sites.lab.fault("node2", "unreachable")
    try:
        code, hosts = _run(sites, "state-node-down")
    finally:
        Lab(sites.lab.state_dir).fault("node2", None)
    assert code == 1
    assert "execution node unreachable" in str(hosts["pacs1"]["message"])
    assert hosts["ris1"]["state"] == "blocked"
    assert sites.executed_by("lab1") == ["node1"]
    assert sites.executed_by("pacs1") == [] and sites.executed_by("ris1") == []


def _job(
    sites: Sites, name: str, reattach_deadline_s: float | None = None, **options: Any
) -> PlaybookResult:
    hosts = sites.hosts()
    request = PlaybookRequest(
        playbook=sites.base / "playbooks" / "marker.yml",
        host="lab1",
        work_dir=sites.base / name,
        **options,
    )
    more = {} if reattach_deadline_s is None else {"reattach_deadline_s": reattach_deadline_s}
    return run_playbook_on_node(
        request,
        node=hosts.host("node1"),
        target=hosts.host("lab1"),
        idle_limit_s=4,
        connect_timeout_s=3,
        **more,
    )


def _later(delay: float, action: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_link_cut_mid_job_is_survived_without_running_anything_twice(sites: Sites) -> None:
    sites.forget("lab1")
    cut = _later(3, lambda: Lab(sites.lab.state_dir).fault("node1", "unreachable"))
    heal = _later(9, lambda: Lab(sites.lab.state_dir).fault("node1", None))
    try:
        result = _job(sites, "cut", extravars={"pause": 10}, timeout_s=120)
    finally:
        cut.join()
        heal.join()
        Lab(sites.lab.state_dir).fault("node1", None)
    assert result.ok, result.message
    assert "re-attached 0 time(s)" not in result.message
    assert sites.executed_by("lab1") == ["node1"]


def test_a_link_lost_past_the_deadline_leaves_the_job_unknown_never_resubmitted(
    sites: Sites,
) -> None:
    sites.forget("lab1")
    cut = _later(3, lambda: Lab(sites.lab.state_dir).fault("node1", "unreachable"))
    try:
        result = _job(sites, "lost", extravars={"pause": 6}, timeout_s=120, reattach_deadline_s=5)
    finally:
        cut.join()
        Lab(sites.lab.state_dir).fault("node1", None)
    assert result.status == "unknown" and not result.ok
    deadline = time.monotonic() + 60  # the job went on, on the node, detached from the link
    while sites.executed_by("lab1") != ["node1"] and time.monotonic() < deadline:
        time.sleep(1)
    assert sites.executed_by("lab1") == ["node1"]


def test_a_cancel_stops_the_job_on_the_node(sites: Sites) -> None:
    sites.forget("lab1")
    cancel = threading.Event()
    later = _later(4, cancel.set)
    result = _job(sites, "cancel", extravars={"pause": 300}, timeout_s=120, cancel=cancel)
    later.join()
    assert result.status == "canceled"
    sleeping = sites.on("node1", "grep -l 'sleep 30[0]' /proc/[0-9]*/cmdline 2>/dev/null || true")
    sleeping += sites.on("lab1", "grep -l 'sleep 30[0]' /proc/[0-9]*/cmdline 2>/dev/null || true")
    assert sleeping.strip() == "", "the cancelled task still runs"
    assert sites.executed_by("lab1") == []


def test_a_wrong_target_host_key_is_refused_on_the_node(sites: Sites) -> None:
    sites.forget("lab1")
    hosts = sites.hosts()
    real = Path(str(hosts.host("lab1").var("ansible_ssh_common_args")).split("=")[1].split()[0])
    forged = sites.base / "forged_known_hosts"
    forged.write_text(
        "".join(
            line
            if not line.startswith(("127.0.11.", "[127.0.11."))
            else line.split()[0] + " " + _other_key(real, line.split()[0]) + "\n"
            for line in real.read_text().splitlines(keepends=True)
        )
    )
    data = yaml.safe_load(sites.inventory.read_text())
    lab1 = data["all"]["children"]["lab_linux"]["hosts"]["lab1"]
    lab1["ansible_ssh_common_args"] = f"-o UserKnownHostsFile={forged} -o StrictHostKeyChecking=yes"
    forged_inventory = sites.base / "forged.yml"
    forged_inventory.write_text(yaml.safe_dump(data))
    target = load_inventory(forged_inventory, with_secrets=True).host("lab1")
    result = run_playbook_on_node(
        PlaybookRequest(
            playbook=sites.base / "playbooks" / "marker.yml",
            host="lab1",
            work_dir=sites.base / "forged",
            timeout_s=120,
        ),
        node=hosts.host("node1"),
        target=target,
    )
    assert not result.ok
    assert result.stats.get("dark") == 1 or "unreachable" in result.message
    stdout = "".join(p.read_text() for p in (sites.base / "forged").rglob("stdout"))
    assert "Host key verification failed" in stdout or "REMOTE HOST IDENTIFICATION" in stdout
    assert sites.executed_by("lab1") == []


def _other_key(known_hosts: Path, address: str) -> str:
    """Another lab host's key: a real key, just not this host's."""
    for line in known_hosts.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] != address:
            return " ".join(parts[1:3])
    raise AssertionError("no other key to forge with")


def test_an_orchestrator_killed_mid_job_re_attaches_on_resume(sites: Sites) -> None:
    from restore.execution.journal import Journal

    sites.forget("lab1")
    graph = sites.base / "slow.yaml"
    graph.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "slow",
                "playbook_dir": "playbooks",
                "services": [
                    {
                        "id": "lab",
                        "priority": 1,
                        "hosts": ["lab1"],
                        "steps": [{"ansible": "marker.yml", "vars": {"pause": 8}}],
                    }
                ],
            }
        )
    )
    state = sites.base / "state-killed"
    command = [str(RESTORE), "run", str(graph), "-i", str(sites.inventory), "--yes"]
    command += ["--format", "json", "--state-dir", str(state)]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (state / "journal.sqlite").exists():
                journal = Journal(state)
                submitted = [e for e in journal.events() if e.event == "node_job"]
                journal.close()
                if submitted:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("the job was never submitted to the node")
    finally:
        first.kill()
        first.wait()
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sites.executed_by("lab1") == ["node1"], "the job ran twice, or never"
    journal = Journal(state)
    jobs = [e.detail["job"] for e in journal.events() if e.event == "node_job"]
    journal.close()
    assert len(jobs) == 1, "the resumed run submitted the step again"
    verify = subprocess.run(
        [str(RESTORE), "journal", "verify", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_jobs_starting_at_once_on_one_node_all_run(sites: Sites) -> None:
    """bench/sites.py found concurrent first jobs racing to place the agent; it is now
    placed once, by `restore node install`."""
    hosts = sites.hosts()
    results: dict[str, PlaybookResult] = {}

    def job(target: str) -> None:
        sites.forget(target)
        results[target] = run_playbook_on_node(
            PlaybookRequest(
                playbook=sites.base / "playbooks" / "marker.yml",
                host=target,
                work_dir=sites.base / f"together-{target}",
                timeout_s=120,
            ),
            node=hosts.host("node1"),
            target=hosts.host(target),
        )

    threads = [threading.Thread(target=job, args=(t,)) for t in ("lab1", "pacs1", "ris1", "dc1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.ok for r in results.values()), {t: r.message for t, r in results.items()}
    for target in results:
        assert sites.executed_by(target) == ["node1"]


def test_the_job_key_opens_the_agent_and_nothing_else(sites: Sites) -> None:
    from restore.ansible.nodes.job_access import job_spec, request_token

    def as_job(command: str) -> tuple[int, str]:
        channel = SshTransport(job_spec(sites.hosts().host("node1"))).open_stream(command, 30)
        channel.settimeout(30)
        channel.shutdown_write()
        errors = b""
        while not channel.exit_status_ready() or channel.recv_stderr_ready():
            errors += channel.recv_stderr(4096)
        return channel.recv_exit_status(), errors.decode()

    status, errors = as_job("touch /tmp/job-key-was-here; id")
    assert status == 2 and "only starts, attaches, cancels, cleans jobs" in errors
    assert sites.on("node1", "ls /tmp/job-key-was-here 2>/dev/null || true").strip() == ""
    status, errors = as_job("attach no-such-job 0")
    assert status == 4 and "not signed by the control node" in errors  # the key alone: nothing
    token = request_token("attach", "no-such-job", "0")
    status, _ = as_job(f"attach no-such-job 0 --sig {token}")
    assert status == 3  # signed by the control node: the agent itself answered
