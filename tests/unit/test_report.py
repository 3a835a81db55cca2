"""Report numbers come from journal events; every format renders them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import xmlschema

from restore.report_model import ServiceInfo, build_report
from restore.report_render import to_html, to_json, to_junit, to_markdown
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
    assert suite.get("failures") == "1"
    names = [c.get("name") for c in suite.iter("testcase")]
    assert "01 check" in names and "02 reconnect" in names


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
