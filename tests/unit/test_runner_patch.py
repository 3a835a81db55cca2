"""The ansible-runner patch: installed explicitly, checked against the installed version."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_runner.runner import Runner

from restore.ansible import runner_patch


def test_the_installed_ansible_runner_still_has_the_patched_method() -> None:
    # Fails the day ansible-runner changes Runner.handle_termination: the patch must then be
    # re-verified before the pinned range in pyproject.toml is widened.
    assert runner_patch.parameters_of(Runner) == runner_patch.EXPECTED_PARAMETERS


def test_a_changed_signature_is_refused_with_the_supported_range() -> None:
    class ChangedRunner:
        @classmethod
        def handle_termination(cls, pid: int, pidfile: str | None, grace: float) -> None: ...

    with pytest.raises(runner_patch.RunnerPatchError) as refused:
        runner_patch.check_signature(ChangedRunner)
    assert "handle_termination" in str(refused.value)
    assert runner_patch.SUPPORTED_RANGE in str(refused.value)


def test_importing_the_adapter_does_not_patch_ansible_runner() -> None:
    # The patch is installed by the first playbook run, not as an import side effect.
    code = (
        "import restore.ansible.runner, restore.ansible.runner_patch as p\n"
        "from ansible_runner.runner import Runner\n"
        "print(p.installed(), Runner.handle_termination.__func__.__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "ansible_runner.runner"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_once_installed_a_terminated_job_loses_the_processes_that_left_its_group(
    tmp_path: Path,
) -> None:
    runner_patch.install()
    runner_patch.install()  # idempotent: the tree killer is not wrapped twice
    assert Runner.handle_termination.__func__.__module__ == "restore.ansible.runner_patch"
    pid_file = tmp_path / "escaped.pid"
    # The job's child moves to a session of its own, as ansible-core 2.19's workers do: a
    # process-group kill (ansible-runner's own behaviour) would leave it running.
    job = subprocess.Popen(
        ["sh", "-c", f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 300' & wait"],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the escaping child never started"
        time.sleep(0.05)
    escaped = int(pid_file.read_text())
    assert os.getpgid(escaped) != os.getpgid(job.pid)
    Runner.handle_termination(job.pid)
    job.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _alive(escaped):
        assert time.monotonic() < deadline, "the escaped worker outlived its job"
        time.sleep(0.05)
