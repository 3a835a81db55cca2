"""check_hosts returns only once every host's worker has ended, its report included."""

from __future__ import annotations

import threading
import time

from restore.integrity.checks.catalog import Context
from restore.integrity.checks.indicators import load_indicators
from restore.integrity.checks.runner import CheckOptions, check_hosts
from restore.models import Credential, HostCheckResult, HostSpec, Platform, Verdict


def test_every_report_is_made_before_check_hosts_returns() -> None:
    # nothing listens on port 1: each host is unreachable at once, its report is slow
    hosts = [
        HostSpec(f"h{i}", Platform.LINUX, "127.0.0.1", 1, "root", Credential("none"))
        for i in range(3)
    ]
    reported: list[str] = []
    lock = threading.Lock()

    def slow_report(result: HostCheckResult) -> None:
        time.sleep(0.5)  # a terminal that is slow to take the progress line
        with lock:
            reported.append(result.host)

    options = CheckOptions(
        context=Context(indicators=load_indicators()), connect_timeout_s=2, host_timeout_s=30
    )
    results = check_hosts(hosts, options, on_done=slow_report)
    assert [r.verdict for r in results] == [Verdict.UNREACHABLE] * 3
    assert sorted(reported) == ["h0", "h1", "h2"]
