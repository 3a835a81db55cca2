"""The prefork ansible-playbook: real ansible-runner, real ansible-core, on localhost.

Proves that a warm job gives the same result as a cold one, that a job whose ansible
configuration differs takes the cold path, that a timeout kills the forked job, and that a
lost server costs speed, never the step.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from restore.ansible.prefork.service import PreforkAnsible
from restore.ansible.request import PlaybookRequest
from restore.ansible.runner import run_playbook

PLAYBOOK = """
- name: Marker
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the marker
      ansible.builtin.copy:
        dest: "{{ marker }}"
        content: "{{ inventory_hostname }}\\n"
        mode: "0600"
"""
SLOW = """
- name: Slow
  hosts: all
  gather_facts: false
  tasks:
    - name: Wait far longer than the step's deadline, leaving the pid to check
      ansible.builtin.shell: "echo $$ > {{ pidfile }}; exec sleep 120"
      changed_when: false
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "inventory.ini").write_text(
        f"target ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    (tmp_path / "marker.yml").write_text(PLAYBOOK)
    (tmp_path / "slow.yml").write_text(SLOW)
    return tmp_path


def _jobs(log: Path) -> list[tuple[int, str]]:
    text = log.read_text() if log.exists() else ""
    return [(int(p), mode) for p, mode in re.findall(r"prefork: job (\d+) (\w+)", text)]


def _marker_run(site: Path, name: str, env: dict[str, str]) -> tuple[bool, Path]:
    marker = site / f"{name}.txt"
    result = run_playbook(
        PlaybookRequest(
            playbook=site / "marker.yml",
            inventories=(str(site / "inventory.ini"),),
            host="target",
            work_dir=site / name,
            extravars={"marker": str(marker)},
            timeout_s=120,
        ),
        launch_env=env,
    )
    return result.ok, marker


def test_warm_jobs_do_the_work_and_a_different_configuration_goes_cold(site: Path) -> None:
    log = site / "prefork.log"
    with PreforkAnsible(log_path=log) as prefork:
        env = prefork.environment()
        assert prefork.active and env
        for name in ("first", "second"):
            ok, marker = _marker_run(site, name, env)
            assert ok and marker.read_text() == "target\n"
        ok, marker = _marker_run(site, "third", {**env, "ANSIBLE_FORKS": "7"})
        assert ok and marker.read_text() == "target\n"
    assert [mode for _, mode in _jobs(log)] == ["warm", "warm", "cold"]
    assert not any(Path(p).exists() for p in env.values() if p.endswith(".sock"))


def test_a_timeout_kills_the_forked_job(site: Path) -> None:
    log = site / "prefork.log"
    with PreforkAnsible(log_path=log) as prefork:
        started = time.monotonic()
        result = run_playbook(
            PlaybookRequest(
                playbook=site / "slow.yml",
                inventories=(str(site / "inventory.ini"),),
                host="target",
                work_dir=site / "slow",
                extravars={"pidfile": str(site / "slow.pid")},
                timeout_s=5,
            ),
            launch_env=prefork.environment(),
        )
        assert result.status == "timeout" and not result.ok
        assert time.monotonic() - started < 60
        ((pid, mode),) = _jobs(log)
        assert mode == "warm"
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists(), "the forked ansible-playbook outlived its step"
        command = int((site / "slow.pid").read_text())
        assert _gone(command), "the task's command outlived its step (a detached worker)"


def test_a_timeout_without_the_server_kills_the_task_command_too(site: Path) -> None:
    """The cold way (RESTORE_ANSIBLE_PREFORK=0, or a server that is gone): ansible-runner
    kills the job's process group, which ansible-core 2.19's detached workers have left."""
    result = run_playbook(
        PlaybookRequest(
            playbook=site / "slow.yml",
            inventories=(str(site / "inventory.ini"),),
            host="target",
            work_dir=site / "slow-cold",
            extravars={"pidfile": str(site / "slow-cold.pid")},
            timeout_s=5,
        ),
    )
    assert result.status == "timeout" and not result.ok
    command = int((site / "slow-cold.pid").read_text())
    assert _gone(command), "the task's command outlived its step (a detached worker)"


ENGINE = """
import sys, threading
from pathlib import Path
from restore.ansible.request import PlaybookRequest
from restore.ansible.runner import run_playbook
from restore.ansible.prefork.service import PreforkAnsible

site = Path(sys.argv[1])
prefork = PreforkAnsible(log_path=site / "prefork.log")
prefork.start()
print(prefork.server_pid, flush=True)
run_playbook(
    PlaybookRequest(
        playbook=site / "slow.yml",
        inventories=(str(site / "inventory.ini"),),
        host="target",
        work_dir=site / "engine",
        extravars={"pidfile": str(site / "slow.pid")},
        timeout_s=300,
    ),
    launch_env=prefork.environment(),
)
"""


def _gone(pid: int, within_s: float = 15) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return True  # exited; only its parent's wait is missing
        time.sleep(0.1)
    return False


def test_an_engine_killed_mid_step_takes_its_server_and_jobs_with_it(site: Path) -> None:
    engine = subprocess.Popen(
        [sys.executable, "-c", ENGINE, str(site)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert engine.stdout is not None
        server = int(engine.stdout.readline())
        deadline = time.monotonic() + 60
        pidfile = site / "slow.pid"
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline, "the slow task never started"
            time.sleep(0.1)
        ((job, mode),) = _jobs(site / "prefork.log")
        assert mode == "warm"
        engine.send_signal(signal.SIGKILL)
        engine.wait()
        assert _gone(server), "the prefork server outlived its engine"
        assert _gone(job), "a forked ansible-playbook outlived its engine"
        assert _gone(int(pidfile.read_text())), "the task's command outlived its engine"
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()


def test_a_lost_server_falls_back_to_the_real_program(site: Path) -> None:
    log = site / "prefork.log"
    prefork = PreforkAnsible(log_path=log)
    prefork.start()
    env = prefork.environment()
    prefork.stop()  # the launcher script stays usable from a copy, as after a server crash
    launcher = site / "bin" / "ansible-playbook"
    launcher.parent.mkdir()
    launcher.write_text(
        f"#!{sys.executable}\nfrom restore.ansible.prefork.launcher import main\n\nmain()\n"
    )
    launcher.chmod(0o700)
    stale = {**env, "PATH": f"{launcher.parent}:{env['PATH'].split(':', 1)[1]}"}
    ok, marker = _marker_run(site, "orphan", stale)
    assert ok and marker.read_text() == "target\n"
    assert _jobs(log) == []


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTORE_ANSIBLE_PREFORK", "0")
    with PreforkAnsible() as prefork:
        assert not prefork.active and prefork.environment() == {}
