"""Execute a RestorePlan: host state machine, gates, deadlines, scheduling, resume.

    core.py       Engine: opens the run, lets the scheduler start hosts, ends the run
    opening.py    a new run (its first event holds the plan) or one resumed from its journal
    host_loop.py  one host's walk through its steps, and what each outcome makes of the host
    dispatch.py   one step: attempts, gates, the runner under a hard deadline, stop signals
    recorder.py   event writing: journal rows, handed to the progress sink as written
    results.py    RunOptions, HostOutcome, RunResult, the Processor protocol

`resume=True` continues the latest run from its journal: succeeded steps never run again,
a started-but-unfinished step runs again only if idempotent, else an operator decides.
"""

from restore.execution.engine.core import Engine
from restore.execution.engine.opening import graph_hash
from restore.execution.engine.results import (
    HostOutcome,
    NullProcessor,
    Processor,
    RunOptions,
    RunResult,
)

__all__ = [
    "Engine",
    "HostOutcome",
    "NullProcessor",
    "Processor",
    "RunOptions",
    "RunResult",
    "graph_hash",
]
