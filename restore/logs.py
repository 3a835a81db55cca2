"""Diagnostic logging: what the tool is doing, for the sysadmin who asks, never a secret.

The journal is the record investigators trust; the log is for the person at the keyboard
who wants to see why a step is slow or what a check sent (`restore -v ...`, `-vv`). Every
record made by a `restore` logger is redacted when it is made, with the same secrets as the
journal's redaction, before any handler sees it: a password that reaches a log call is
masked on stderr, in the run's log file and in any handler a site adds. Only the `restore`
logger gets handlers; libraries keep their own (silent) defaults, because paramiko's or
urllib3's debug output can carry protocol bytes.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from restore.execution.journal import redact_text

LOGGER_NAME = "restore"
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
_LEVELS = {0: logging.WARNING, 1: logging.INFO}


class RedactingFilter(logging.Filter):
    """Masks known secret values in the final message text, whatever the call passed."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(v for v in values if v)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        record.msg = redact_text(record.getMessage(), secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # A traceback's text is rendered later from exc_info; keep only a redacted summary.
            record.msg += " | " + redact_text(repr(record.exc_info[1]), secrets)
            record.exc_info = None
        return True


_filter = RedactingFilter()
_verbosity = 0
_base_record_factory = logging.getLogRecordFactory()


def _redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    # Redacting where the record is made, not in a handler's filter: every handler then sees
    # the masked text, including handlers that others attach (a test runner's capture, a
    # syslog handler added by a site), which a filter on our own handlers would not cover.
    record = _base_record_factory(*args, **kwargs)
    if record.name == LOGGER_NAME or record.name.startswith(LOGGER_NAME + "."):
        _filter.filter(record)
    return record


def _install_record_factory() -> None:
    if logging.getLogRecordFactory() is not _redacting_record_factory:
        logging.setLogRecordFactory(_redacting_record_factory)


def logger(name: str) -> logging.Logger:
    """The module logger under `restore.` (callers pass __name__)."""
    return logging.getLogger(name if name.startswith(LOGGER_NAME) else f"{LOGGER_NAME}.{name}")


def add_secrets(values: Iterable[str]) -> None:
    _filter.add(values)


def level_for(verbosity: int) -> int:
    return _LEVELS.get(verbosity, logging.DEBUG)


def configure(verbosity: int) -> None:
    """Console logging on stderr: warnings by default, INFO with -v, DEBUG with -vv."""
    global _verbosity
    _verbosity = verbosity
    _install_record_factory()
    root = logging.getLogger(LOGGER_NAME)
    root.propagate = False
    for handler in list(root.handlers):
        if getattr(handler, "restore_console", False):
            root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setLevel(level_for(verbosity))
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console.addFilter(_filter)  # on the handler: a logger's own filters skip child records
    console.restore_console = True  # type: ignore[attr-defined]
    root.addHandler(console)
    _match_handlers(root)
    # paramiko reports a connection the host dropped ("Socket exception: Broken pipe") at
    # ERROR from its own thread; without a handler Python's last resort prints it bare on
    # stderr. The SSH transport says what happened in its own words instead.
    paramiko_log = logging.getLogger("paramiko")
    if not any(isinstance(h, logging.NullHandler) for h in paramiko_log.handlers):
        paramiko_log.addHandler(logging.NullHandler())


def attach_run_log(path: Path) -> logging.Handler:
    """A log file for one run (0600: it names hosts and paths), at INFO, or DEBUG with -vv."""
    _install_record_factory()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(min(level_for(_verbosity), logging.INFO))
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(_filter)
    root = logging.getLogger(LOGGER_NAME)
    root.propagate = False
    root.addHandler(handler)
    _match_handlers(root)
    return handler


def detach(handler: logging.Handler) -> None:
    root = logging.getLogger(LOGGER_NAME)
    root.removeHandler(handler)
    handler.close()
    _match_handlers(root)


def _match_handlers(root: logging.Logger) -> None:
    # The logger's level is the lowest its handlers want: a DEBUG record (one per journal
    # event) is then not even made, formatted and redacted when nobody asked for -vv.
    # A handler at NOTSET (0) takes everything; the logger at 0 would instead inherit the
    # root logger's WARNING, hence DEBUG at the lowest.
    wanted = min((h.level for h in root.handlers), default=logging.WARNING)
    root.setLevel(max(wanted, logging.DEBUG))
