"""SIGTERM/SIGHUP/SIGINT become one StopSignal, once; a signal ignored on purpose stays so."""

from __future__ import annotations

import os
import signal

import pytest

from restore.cli.stopping import stop_on_signals
from restore.errors import StopSignal


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_is_raised_once_with_its_name(how: signal.Signals) -> None:
    before = signal.getsignal(how)
    with pytest.raises(StopSignal) as stopped, stop_on_signals():
        try:
            os.kill(os.getpid(), how)  # the handler runs as soon as kill returns
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal while stopping: ignored
    assert stopped.value.signal_name == how.name
    assert isinstance(stopped.value, KeyboardInterrupt)  # the engine's Ctrl-C path
    assert signal.getsignal(how) == before


def test_nohup_keeps_sighup_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGHUP)
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
