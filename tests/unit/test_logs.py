"""Diagnostic logging: levels by -v count, and one redaction for every handler."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from restore import logs


def test_verbosity_maps_to_levels() -> None:
    assert logs.level_for(0) == logging.WARNING
    assert logs.level_for(1) == logging.INFO
    assert logs.level_for(2) == logging.DEBUG
    assert logs.level_for(5) == logging.DEBUG


def test_a_secret_is_masked_on_stderr_and_in_the_run_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(2)
    logs.add_secrets(["Vault-Value-4242"])
    run_log = logs.attach_run_log(tmp_path / "runs" / "r1" / "restore.log")
    try:
        child = logs.logger(
            "restore.execution.engine"
        )  # records from children reach the filter too
        child.info("password is %s for %s", "Vault-Value-4242", "lis01")
        try:
            raise RuntimeError("auth failed with Vault-Value-4242")
        except RuntimeError:
            child.exception("transport error")
    finally:
        logs.detach(run_log)
        logs.configure(0)
    written = (tmp_path / "runs" / "r1" / "restore.log").read_text()
    shown = capsys.readouterr().err
    for text in (written, shown):
        assert "Vault-Value-4242" not in text
        assert "for lis01" in text
        assert "transport error" in text
    assert (tmp_path / "runs" / "r1" / "restore.log").stat().st_mode & 0o777 == 0o600


def test_warnings_only_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(0)
    logs.logger(__name__).info("quiet")
    logs.logger(__name__).warning("loud")
    shown = capsys.readouterr().err
    assert "quiet" not in shown
    assert "loud" in shown


def test_the_logger_wants_no_lower_level_than_its_handlers() -> None:
    # A DEBUG record (one per journal event) is not even made, formatted and redacted when no
    # handler keeps DEBUG; a handler at NOTSET keeps everything.
    probe = logging.getLogger("restore.unit-probe")  # registered: setLevel clears its cache
    probe.handlers.clear()

    def handler(level: int) -> logging.Handler:
        made = logging.NullHandler()
        made.setLevel(level)
        return made

    logs._match_handlers(probe)
    assert probe.level == logging.WARNING
    probe.addHandler(handler(logging.WARNING))
    probe.addHandler(handler(logging.INFO))
    logs._match_handlers(probe)
    assert probe.isEnabledFor(logging.INFO) and not probe.isEnabledFor(logging.DEBUG)
    probe.addHandler(handler(logging.NOTSET))
    logs._match_handlers(probe)
    assert probe.isEnabledFor(logging.DEBUG)
    probe.handlers.clear()
