"""One playbook job as a value, written down once.

A step's playbook runs either here (restore.ansible.runner.run_playbook) or on the host's
execution node (restore.ansible.nodes.remote.run_playbook_on_node). Both take this request,
so an option added to a job (a deadline, check mode, a secret to scrub) reaches both ways
and cannot be forgotten in one of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ProgressFn = Callable[[str], None]


@dataclass(frozen=True)
class PlaybookRequest:
    """`playbook` limited to `host`, with the inventories of `-i A -i B` in order.

    `inventories` are merged by ansible-playbook itself, as `ansible-playbook -i A -i B`
    merges them. A job on an execution node does not read them: it carries the target's
    variables as they resolved here from all of them (restore.ansible.nodes.job_package).
    """

    playbook: Path
    host: str  # the --limit: one inventory host ("all" for a rehearsal's seed)
    work_dir: Path
    inventories: tuple[str, ...] = ()
    extravars: Mapping[str, Any] = field(default_factory=dict)
    # passed to the play like extravars, and scrubbed from every artifact afterwards
    secret_extravars: Mapping[str, Any] = field(default_factory=dict, repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # values to mask everywhere
    check: bool = False  # check mode with --diff: a dry run changes nothing
    timeout_s: float | None = None
    cancel: threading.Event | None = field(default=None, compare=False)
    progress: ProgressFn | None = field(default=None, compare=False)

    def play_vars(self) -> dict[str, Any]:
        """Every extra variable the play gets (a secret one wins on a name clash)."""
        return {**self.extravars, **self.secret_extravars}

    def known_secrets(self) -> list[str]:
        """The values no artifact, message or journal row may show."""
        return [*self.secrets, *(str(v) for v in self.secret_extravars.values() if v)]
