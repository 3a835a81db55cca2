"""The one change `restore` makes to ansible-runner: a timed-out job loses its whole tree.

ansible-runner ends a timed-out or cancelled job by killing the job's process group, but
ansible-core 2.19's workers leave that group, and the commands they run on the controller
would go on after the step's deadline. `Runner.handle_termination` is the one place where
ansible-runner names the job's pid just before it kills, so the job's whole tree goes first.

Why a checked patch and not a subclass: ansible-runner calls the classmethod on its own
`Runner` class from inside `ansible_runner.run`, so only the class attribute reaches it. A
patch on a private method is only as good as the version it was written against, hence:
- it is installed explicitly by `install()` (never as an import side effect), once;
- before installing, the method's signature is compared with the one it was written
  against, and a mismatch is an error that names the installed version instead of a
  silently ignored hook;
- pyproject.toml pins ansible-runner to the range where this was verified, and a test fails
  when the installed ansible-runner changes the method.
"""

from __future__ import annotations

import inspect
import threading
from importlib.metadata import version
from typing import Any

from ansible_runner.runner import Runner

from restore.errors import RestoreError
from restore.process_tree import kill_tree

# What `Runner.handle_termination` looked like when the patch was written (ansible-runner
# 2.4.x): a classmethod taking the job's pid and the daemon's optional pidfile.
EXPECTED_PARAMETERS = ("pid", "pidfile")
SUPPORTED_RANGE = ">=2.4,<2.5"

_lock = threading.Lock()
_installed = False


class RunnerPatchError(RestoreError):
    """ansible-runner changed the method `restore` relies on; an operational failure."""


def parameters_of(runner_class: type) -> tuple[str, ...]:
    """The parameter names of `handle_termination` as bound on the class (without `cls`)."""
    return tuple(inspect.signature(runner_class.handle_termination).parameters)  # type: ignore[attr-defined]


def check_signature(runner_class: type = Runner) -> None:
    found = parameters_of(runner_class)
    if found != EXPECTED_PARAMETERS:
        raise RunnerPatchError(
            f"ansible-runner {version('ansible-runner')} changed Runner.handle_termination "
            f"(parameters {found}, expected {EXPECTED_PARAMETERS}); restore supports "
            f"ansible-runner {SUPPORTED_RANGE}: install a version in that range"
        )


def install() -> None:
    """Make ansible-runner kill a job's whole process tree; idempotent and thread-safe."""
    global _installed
    with _lock:
        if _installed:
            return
        check_signature(Runner)
        kill_job_group = Runner.handle_termination

        def kill_job_tree(_runner_class: type, pid: int, pidfile: Any = None) -> None:
            kill_tree(pid)
            kill_job_group(pid, pidfile)

        setattr(Runner, "handle_termination", classmethod(kill_job_tree))  # noqa: B010
        _installed = True


def installed() -> bool:
    return _installed
