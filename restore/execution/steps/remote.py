"""`ssh: COMMAND` and `winrm: POWERSHELL`: one command on the host, through restore.transports.

In a dry run the command is shown, not run: the graph author's commands may change the host.
"""

from __future__ import annotations

from restore.execution.steps.base import StepContext, StepOutcome, dry, failed, succeeded
from restore.models import Platform
from restore.transports import make_transport
from restore.transports.base import TransportError

_TAIL = 2000  # characters of output kept in the journal: enough to explain, not a log


def _wrong_platform(ctx: StepContext) -> StepOutcome | None:
    """The failure of a winrm step on a host that does not speak it, dry run or not."""
    if ctx.step.type.value == "winrm" and ctx.host.platform is not Platform.WINDOWS:
        return failed(f"winrm step on {ctx.host.platform.value} host {ctx.host.name}")
    return None


def would(ctx: StepContext) -> StepOutcome:
    command = str(ctx.step.argument or "")
    wrong = _wrong_platform(ctx)
    if wrong is not None:
        return wrong
    return dry(f"would run over {ctx.step.type.value}: {command}", command=command)


def run(ctx: StepContext) -> StepOutcome:
    command = str(ctx.step.argument or "")
    wrong = _wrong_platform(ctx)
    if wrong is not None:
        return wrong
    transport = make_transport(ctx.host, winrm_insecure=ctx.winrm_insecure)
    ctx.on_cancel(transport.close)
    try:
        transport.connect(min(30.0, ctx.timeout_s))
        output = transport.run(command, timeout=ctx.timeout_s, drain=True)
    except TransportError as exc:
        return failed(f"{ctx.host.name} unreachable: {exc}", unreachable=True)
    finally:
        transport.close()
    detail: dict[str, object] = {
        "command": command,
        "rc": output.rc,
        "stdout": output.stdout[-_TAIL:],
        "stderr": output.stderr[-_TAIL:],
        "duration_s": round(output.duration_s, 3),
        "truncated": output.truncated,  # the middle was dropped on the control node
    }
    if output.timed_out:
        return failed(f"command timed out after {output.duration_s:.0f}s", **detail)
    if output.rc != 0:
        return failed(f"command exited {output.rc}", **detail)
    return succeeded(f"exit 0 in {output.duration_s:.1f}s", **detail)
