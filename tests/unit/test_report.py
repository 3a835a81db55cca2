"""Report numbers come from journal events; every format renders them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import xmlschema

from restore.reporting.model import ServiceInfo, build_report
from restore.reporting.render import to_html, to_json, to_junit, to_markdown
from tests.junit_schema import validate_junit

T0 = datetime.fromisoformat("2026-11-21T08:00:00+00:00")
INCIDENT = datetime.fromisoformat("2026-11-20T01:30:00+01:00")


def ev(
    seq: int, minutes: float, host: str | None, step: str | None, event: str, **detail: object
) -> dict[str, object]:
    return {
        "seq": seq,
        "run_id": "r1",
        "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
        "host": host,
        "service": {"dc1": "ad", "lis1": "lis", "lis2": "lis"}.get(host or ""),
        "step": step,
        "event": event,
        "detail": detail,
        "prev_hash": "",
        "hash": "",
    }


EVENTS = [
    ev(1, 0, "dc1", "check", "started"),
    ev(
        2,
        5,
        "dc1",
        "check",
        "succeeded",
        verdict="clean",
        findings=[{"check": "ransom_notes", "status": "pass", "detail": "none"}],
    ),
    ev(3, 6, "dc1", "reconnect", "started"),
    ev(4, 10, "dc1", "reconnect", "succeeded", state="reconnected"),
    ev(5, 11, "lis1", "evidence", "started"),
    ev(
        6,
        12,
        "lis1",
        "evidence",
        "succeeded",
        items=[
            {
                "source": "/srv/README_DECRYPT.txt",
                "sha256": "ab" * 32,
                "size": 120,
                "collected_by": "restore",
                "collected_at": "x",
            }
        ],
    ),
    ev(7, 13, "lis1", "check", "started"),
    ev(
        8,
        15,
        "lis1",
        "check",
        "failed",
        verdict="compromised",
        findings=[
            {
                "check": "ransom_notes",
                "status": "fail",
                "detail": "1 ransom note",
                "evidence": ["/srv/README_DECRYPT.txt"],
            }
        ],
    ),
    ev(9, 16, "lis2", "approve", "approved", by="Dr Martin", reason="analysers OK"),
    ev(10, 20, "lis1", None, "state", state="failed"),
]
SERVICES = [
    ServiceInfo("ad", "Directory", 3, 4 * 86400.0, ("dc1",)),
    ServiceInfo("lis", "Laboratory", 1, 3600.0, ("lis1", "lis2")),
]


def make():  # type: ignore[no-untyped-def]
    return build_report(
        EVENTS,
        SERVICES,
        run_id="r1",
        graph_name="CHU",
        incident_at=INCIDENT,
        head_hash="f" * 64,
        chain_ok=True,
    )


def test_numbers_come_from_events() -> None:
    report = make()
    ad, lis = report.services
    assert ad.restored_s == 600.0  # dc1 reconnected 10 minutes into the run
    incident_to_run = (T0 - INCIDENT).total_seconds()
    assert ad.restored_since_incident_s == incident_to_run + 600.0
    assert ad.met_rto is True  # 4 days
    assert lis.restored_s is None and lis.met_rto is False
    assert report.outcome == "failed"
    assert [v["verdict"] for v in report.verdicts] == ["clean", "compromised"]
    assert report.evidence[0]["sha256"] == "ab" * 32
    assert report.decisions[0]["by"] == "Dr Martin"
    assert len(report.main_courante) == len(EVENTS)


def test_formats() -> None:
    report = make()
    md = to_markdown(report)
    assert "README_DECRYPT.txt" in md and "Dr Martin" in md and "MISSED" in md
    html = to_html(report)
    assert (
        html.startswith("<!DOCTYPE html>")
        and "<svg" in html
        and "http" not in html.split("<svg")[0].lower().replace("http://www.w3.org", "")
    )
    data = to_json(report)
    assert data["services"][0]["restored_s"] == 600.0 and data["journal"]["head_hash"] == "f" * 64
    suite = validate_junit(to_junit(report))
    # lis1's failed check, lis1 (failed, compromised) and lis2 (never back) as hosts
    assert suite.get("failures") == "3"
    names = [c.get("name") for c in suite.iter("testcase")]
    assert "01 check" in names and "02 reconnect" in names and "00 outcome" in names


def _outcome_failure(events: list[dict[str, object]], host: str) -> str | None:
    suite = validate_junit(to_junit(build_report(events, SERVICES, run_id="r1", graph_name="g")))
    for case in suite.iter("testcase"):
        if case.get("classname", "").endswith(f".{host}") and case.get("name") == "00 outcome":
            failure = case.find("failure")
            return None if failure is None else str(failure.get("message"))
    raise AssertionError(f"no outcome case for {host}")


def test_junit_fails_a_host_whose_check_said_compromised_though_the_step_succeeded() -> None:
    finding = {"check": "ransom_notes", "status": "fail", "detail": "1 ransom note"}
    events = [
        ev(1, 0, "lis1", "1:check", "started"),
        ev(2, 1, "lis1", "1:check", "succeeded", verdict="compromised", findings=[finding]),
        ev(3, 2, "lis1", None, "state", state="failed"),
        ev(4, 3, "dc1", "1:check", "started"),
        ev(5, 4, "dc1", "1:check", "succeeded", verdict="suspect", findings=[]),
        ev(6, 5, "dc1", None, "state", state="restored"),
        ev(7, 6, "lis2", "1:check", "started"),
        ev(8, 7, "lis2", "1:check", "succeeded", verdict="clean", findings=[]),
        ev(9, 8, "lis2", None, "state", state="restored"),
    ]
    message = _outcome_failure(events, "lis1")
    assert message is not None
    assert "ended failed" in message and "compromised" in message
    assert "ransom_notes: fail — 1 ransom note" in message
    suspect = _outcome_failure(events, "dc1")
    assert suspect is not None and "last check verdict suspect" in suspect
    assert _outcome_failure(events, "lis2") is None  # restored and clean: a passing case


def test_a_failed_ansible_task_is_named_in_every_format() -> None:
    failure = {
        "task": "Restore the dump",
        "host": "pg01",
        "module": "ansible.builtin.command",
        "message": "non-zero return code: restic: repository does not exist",
        "unreachable": False,
    }
    events = [
        ev(1, 0, "lis1", "5:restore", "started"),
        ev(2, 1, "lis1", "5:restore", "failed", message="playbook x.yml: failed", failure=failure),
        ev(3, 2, "lis1", None, "state", state="failed"),
    ]
    report = build_report(events, SERVICES, run_id="r1", graph_name="g")
    (item,) = report.failures
    assert item["task"] == "Restore the dump" and item["host"] == "lis1"
    for text in (to_markdown(report), to_html(report), str(to_json(report)), to_junit(report)):
        assert "Restore the dump" in text and "repository does not exist" in text
    # a host's message is hostile data: control characters cannot break the XML
    hostile = {**failure, "message": "bad\x01\x1b[31m | <b>&"}
    events[1] = ev(2, 1, "lis1", "5:restore", "failed", message="x", failure=hostile)
    report = build_report(events, SERVICES, run_id="r1", graph_name="g")
    validate_junit(to_junit(report))
    assert "<b>" not in to_html(report)
    # the pipe cannot split the failures row, and the markup stays text (restore.reporting.markdown_text)
    assert "\\| &lt;b&gt;&amp;" in to_markdown(report)


def test_the_junit_check_refuses_what_a_ci_system_would_misread() -> None:
    good = to_junit(make())
    validate_junit(good)
    broken = {
        "a case without a name": re.sub(r' name="01 check"', "", good, count=1),
        "a negative duration": re.sub(r'time="[0-9.]+"', 'time="-1.000"', good, count=1),
        "a count that disagrees": re.sub(r'tests="\d+"', 'tests="999"', good, count=1),
        "an unknown outcome": good.replace("<failure ", "<flaky ", 1).replace(
            "</failure>", "</flaky>", 1
        ),
    }
    for what, text in broken.items():
        assert text != good, what
        with pytest.raises((xmlschema.XMLSchemaException, AssertionError)):
            validate_junit(text)
