"""Where a host's playbook job runs: here through ansible-runner, or on the host's execution
node through ansible-runner's worker protocol. Both take the same PlaybookRequest and return
the same PlaybookResult."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from restore.ansible.request import PlaybookRequest
from restore.ansible.runner import PlaybookResult, run_playbook
from restore.execution.steps.base import StepContext
from restore.secrets import playbook_vault_args

NODE_JOB_EVENT = "node_job"
_STEP_ENDS = {"succeeded", "failed", "timed_out", "refused", "skipped", "marked_done"}


def playbook_request(
    ctx: StepContext,
    playbook: Path,
    extravars: Mapping[str, Any],
    secret_extravars: Mapping[str, Any] | None = None,
) -> PlaybookRequest:
    """The step's playbook on its host, with the run's inventories, deadline and secrets."""
    return PlaybookRequest(
        playbook=playbook,
        host=ctx.host.name,
        work_dir=ctx.work_dir(),
        inventories=ctx.inventory_paths,
        extravars=dict(extravars),
        secret_extravars=dict(secret_extravars or {}),
        secrets=ctx.secrets,
        timeout_s=ctx.timeout_s,
        cancel=ctx.cancel,
        progress=ctx.progress,
    )


def run_job(
    ctx: StepContext,
    playbook: Path,
    extravars: Mapping[str, Any],
    secret_extravars: Mapping[str, Any] | None = None,
) -> PlaybookResult:
    request = playbook_request(ctx, playbook, extravars, secret_extravars)
    if ctx.execution_node is None:
        return run_playbook(request, launch_env=ctx.ansible_env)
    from restore.ansible.nodes.remote import run_playbook_on_node

    node = ctx.execution_node
    vault_args = playbook_vault_args()  # a job package carries one password file
    vault = vault_args[1] if vault_args else None

    def submitted(ident: str) -> None:
        # Journaled before anything is read back: a restarted orchestrator re-attaches to
        # this job instead of submitting the step again.
        ctx.journal.append(
            ctx.run_id,
            NODE_JOB_EVENT,
            host=ctx.host.name,
            service=ctx.service,
            step=ctx.step_key,
            detail={"node": node.name, "job": ident},
        )

    return run_playbook_on_node(
        request,
        node=node,
        target=ctx.host,
        vault_password_file=Path(vault) if vault else None,
        attach_to=_unfinished_node_job(ctx),
        on_submitted=submitted,
    )


def _unfinished_node_job(ctx: StepContext) -> str | None:
    """The node job this very step submitted before the orchestrator stopped, if the journal
    shows no end for it: the job may have gone on (or finished) on the node meanwhile."""
    pending: str | None = None
    for event in ctx.journal.events(ctx.run_id, host=ctx.host.name):
        if event.step != ctx.step_key:
            continue
        if event.event == NODE_JOB_EVENT:
            pending = str(event.detail.get("job") or "") or None
        elif event.event in _STEP_ENDS:
            pending = None
    return pending
