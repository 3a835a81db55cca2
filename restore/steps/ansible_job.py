"""Where a host's playbook job runs: here through ansible-runner, or on the host's execution
node through ansible-runner's worker protocol. Both return the same PlaybookResult."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from restore.ansible import PlaybookResult, run_playbook
from restore.steps.base import StepContext


def run_job(
    ctx: StepContext,
    playbook: Path,
    extravars: Mapping[str, Any],
    secret_extravars: Mapping[str, Any] | None = None,
) -> PlaybookResult:
    if ctx.execution_node is not None:
        from restore.nodes.remote import run_playbook_on_node

        vault = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
        return run_playbook_on_node(
            node=ctx.execution_node,
            target=ctx.host,
            playbook=playbook,
            work_dir=ctx.work_dir(),
            extravars=extravars,
            secret_extravars=secret_extravars,
            secrets=ctx.secrets,
            check=ctx.dry_run,
            timeout_s=ctx.timeout_s,
            cancel=ctx.cancel,
            progress=ctx.progress,
            vault_password_file=Path(vault) if vault else None,
        )
    return run_playbook(
        playbook=playbook,
        inventory=ctx.inventory_path,
        host=ctx.host.name,
        work_dir=ctx.work_dir(),
        extravars=extravars,
        secret_extravars=secret_extravars,
        secrets=ctx.secrets,
        check=ctx.dry_run,
        timeout_s=ctx.timeout_s,
        cancel=ctx.cancel,
        progress=ctx.progress,
        launch_env=ctx.ansible_env,
    )
