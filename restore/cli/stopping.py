"""SIGTERM and SIGHUP stop a run the way Ctrl-C does: journaled, clean, exit 130, resumable.

`systemctl stop`, `kill PID` and a dropped SSH session (SIGHUP) are how a run dies on the
night as often as Ctrl-C. Python turns only SIGINT into KeyboardInterrupt; these handlers
raise the same exception (StopSignal, carrying the signal's name) for all three. Only the
first signal raises: the run is then journaling its stop, and a second Ctrl-C must not cut
that short (SIGKILL still can; the journal survives that too). A signal the parent set to
be ignored (nohup) stays ignored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from restore.errors import StopSignal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, the first SIGINT/SIGTERM/SIGHUP raises StopSignal in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (the CLI invoked from a test's thread)
        return
    raised = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        if raised:
            return
        raised = True
        raise StopSignal(signal.Signals(signum).name)

    # A signal ignored on purpose stays ignored: `nohup restore run ...` must survive SIGHUP.
    previous = {
        sig: signal.signal(sig, handler)
        for sig in STOP_SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
