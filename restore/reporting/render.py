"""Render a RecoveryReport as Markdown, self-contained HTML, JSON or JUnit XML (pure)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from markupsafe import Markup

from restore.ansible.failures import step_failure_text
from restore.inputs.durations import format_duration
from restore.models import RETURNED_HOST_STATES
from restore.reporting import markdown_text as md
from restore.reporting import restore_points
from restore.reporting.html_page import render
from restore.reporting.model import HostRecord, RecoveryReport
from restore.reporting.svg_gantt import Bar, gantt_svg

_CHAIN = {True: "verified", False: "BROKEN", None: "not checked"}
_RTO_CLASS = {True: "met", False: "missed", None: ""}


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "—"


def _dur(value: float | None) -> str:
    return format_duration(value) if value is not None else "not restored"


def _rto(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "no RTO"}[met]


def to_json(report: RecoveryReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "graph": report.graph_name,
        "outcome": report.outcome,
        "run_started": _when(report.run_started),
        "run_ended": _when(report.run_ended),
        "incident_at": _when(report.incident_at),
        "journal": {"head_hash": report.head_hash, "chain_ok": report.chain_ok},
        "services": [
            {
                "id": s.id,
                "name": s.name,
                "priority": s.priority,
                "rto_s": s.rto_s,
                "restored_s": s.restored_s,
                "restored_since_incident_s": s.restored_since_incident_s,
                "met_rto": s.met_rto,
            }
            for s in report.services
        ],
        "hosts": [
            {
                "host": h.host,
                "service": h.service,
                "state": h.state,
                "verdict": h.verdict,
                "started_s": h.started_s,
                "ended_s": h.ended_s,
                "steps": [
                    {
                        "step": st.step,
                        "status": st.status,
                        "started_s": st.started_s,
                        "ended_s": st.ended_s,
                    }
                    for st in h.steps
                ],
            }
            for h in report.hosts
        ],
        "verdicts": list(report.verdicts),
        "evidence": list(report.evidence),
        "decisions": list(report.decisions),
        "failures": list(report.failures),
        "notes": list(report.notes),
        "restore_points": list(report.restore_points),
        "main_courante": list(report.main_courante),
    }


def _bars(report: RecoveryReport) -> list[Bar]:
    return [
        Bar(h.host, h.service, h.started_s or 0.0, h.ended_s or 0.0, h.state)
        for h in sorted(report.hosts, key=lambda h: (h.started_s or 0.0, h.host))
    ]


def _finding_text(finding: Any) -> str:
    if isinstance(finding, dict):
        evidence = finding.get("evidence") or []
        extra = f" — evidence: {', '.join(map(str, evidence))}" if evidence else ""
        return f"{finding.get('check')}: {finding.get('status')} — {finding.get('detail')}{extra}"
    return str(finding)


def to_markdown(report: RecoveryReport) -> str:
    # Every value below may come from a host or an operator: all of it goes through the
    # escaped writer (restore.reporting.markdown_text), our own fixed words too, for one
    # simple rule.
    sections = [
        _md_head(report),
        _md_services(report),
        _md_hosts(report),
        _md_failures(report),
        restore_points.markdown(report.restore_points),
        _md_verdicts(report),
        _md_evidence(report),
        _md_decisions(report),
        _md_courante(report),
    ]
    return "\n".join(line for section in sections for line in section) + "\n"


def _md_table(
    title: str, columns: tuple[str, ...], rows: list[str], lead: bool = True
) -> list[str]:
    """A titled table (after a blank line unless `lead` is false); rows are already Markdown."""
    header = ["## " + title, "", md.row(*columns), "|" + "---|" * len(columns), *rows]
    return ["", *header] if lead else header


def _md_head(report: RecoveryReport) -> list[str]:
    t, c = md.text, md.code
    return [
        f"# Recovery report — {t(report.graph_name)}",
        "",
        f"Run {c(report.run_id)}: **{t(report.outcome)}**. "
        f"Started {t(_when(report.run_started))}, ended {t(_when(report.run_ended))}. "
        f"Incident declared {t(_when(report.incident_at))}.",
        "",
        f"Journal head hash: {c(report.head_hash or 'unknown')} "
        f"(chain {t(_CHAIN[report.chain_ok])}).",
        "",
        *[f"> **Note:** {t(note)}\n" for note in report.notes],
    ]


def _md_services(report: RecoveryReport) -> list[str]:
    t = md.text
    rows = [
        md.row(
            f"{t(s.id)} — {t(s.name)}",
            t(s.priority),
            t(_dur(s.restored_s)),
            t(_dur(s.restored_since_incident_s)),
            t(_dur(s.rto_s) if s.rto_s else "—"),
            t(_rto(s.met_rto)),
        )
        for s in report.services
    ]
    columns = ("Service", "Priority", "Back after (run)", "Since incident", "RTO", "RTO met")
    return _md_table("Services: time to recover", columns, rows, lead=False)


def _md_hosts(report: RecoveryReport) -> list[str]:
    t = md.text
    rows = [
        md.row(
            t(h.host),
            t(h.service),
            t(h.state),
            t(h.verdict or "—"),
            t(_dur(h.started_s)),
            t(_dur(h.ended_s)),
        )
        for h in report.hosts
    ]
    return _md_table("Hosts", ("Host", "Service", "State", "Verdict", "Start", "End"), rows)


def _md_failures(report: RecoveryReport) -> list[str]:
    if not report.failures:
        return []
    t = md.text
    rows = [
        md.row(t(f["ts"]), t(f["host"]), t(f["step"]), t(f["status"]), t(f["why"]))
        for f in report.failures
    ]
    return _md_table("Failures", ("Time", "Host", "Step", "Status", "Why"), rows)


def _md_verdicts(report: RecoveryReport) -> list[str]:
    t = md.text
    out = ["", "## Integrity verdicts", ""]
    for v in report.verdicts:
        out.append(f"- {t(v['ts'])} **{t(v['host'])}**: {t(v['verdict'])}")
        for finding in v["findings"]:
            if isinstance(finding, dict) and finding.get("status") == "pass":
                continue
            out.append(f"  - {t(_finding_text(finding))}")
    return out


def _md_evidence(report: RecoveryReport) -> list[str]:
    t = md.text
    rows = [
        md.row(
            t(e.get("host")),
            t(e.get("source") or e.get("path")),
            md.code(e.get("sha256")),
            t(e.get("size", "")),
            t(e.get("collected_at", "")),
            t(e.get("collected_by", "")),
        )
        for e in report.evidence
    ]
    columns = ("Host", "File", "SHA-256", "Size", "Collected", "By")
    return _md_table("Evidence index", columns, rows)


def _md_decisions(report: RecoveryReport) -> list[str]:
    t = md.text
    rows = [
        md.row(
            t(d["ts"]),
            t(d["host"] or ""),
            t(d["step"] or ""),
            t(d["decision"]),
            t(d["by"] or ""),
            t(d["reason"] or ""),
        )
        for d in report.decisions
    ]
    columns = ("Time", "Host", "Step", "Decision", "By", "Reason")
    return _md_table("Operator decisions", columns, rows)


def _md_courante(report: RecoveryReport) -> list[str]:
    t = md.text
    rows = [
        md.row(
            t(line["seq"]),
            t(line["ts"]),
            t(line["host"] or ""),
            t(line["step"] or ""),
            t(line["summary"]),
            t(line["by"] or ""),
        )
        for line in report.main_courante
    ]
    return _md_table("Main courante", ("#", "Time", "Host", "Step", "Event", "By"), rows)


def to_html(report: RecoveryReport) -> str:
    """The report as one self-contained page; every value is autoescaped by the template."""
    return _printable(
        render(
            "report.html.j2",
            title=f"Recovery report — {report.graph_name}",
            r=report,
            chain=_CHAIN[report.chain_ok],
            rto_class=_RTO_CLASS,
            gantt=Markup(
                gantt_svg(_bars(report), title="Hosts over time (from the start of the run)")
            ),
            when=_when,
            dur=_dur,
            rto=_rto,
            findings=_shown_findings,
            chosen_text=restore_points.chosen_text,
            rejected_lines=restore_points.rejected_lines,
        )
    )


def _shown_findings(findings: list[Any]) -> list[str]:
    return [
        _finding_text(f)
        for f in findings
        if not (isinstance(f, dict) and f.get("status") == "pass")
    ]


BACK_STATES = RETURNED_HOST_STATES
# Characters XML 1.0 cannot carry at all: a host's message may hold them (hostile data).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str, limit: int) -> str:
    return _NOT_XML.sub("\ufffd", text)[:limit]


UNSAFE_VERDICTS = frozenset({"compromised", "suspect"})


def _host_failure(report: RecoveryReport, host: HostRecord) -> str | None:
    """Why a host is a failing case, or None: it must end back in service, and its last
    check must not have said compromised or suspect (a check step that "succeeded" in
    reaching a verdict of compromise is no success for the rehearsal)."""
    problems = []
    if host.state not in BACK_STATES:
        problems.append(f"ended {host.state}")
    if host.verdict in UNSAFE_VERDICTS:
        problems.append(f"last check verdict {host.verdict}")
    if not problems:
        return None
    message = f"{host.host}: " + "; ".join(problems)
    last = [v for v in report.verdicts if v["host"] == host.host][-1:]
    findings = [
        _finding_text(f)
        for v in last
        for f in v["findings"]
        if not (isinstance(f, dict) and f.get("status") == "pass")
    ]
    if findings:
        message += " — findings: " + " | ".join(findings)
    return message


# Characters XML 1.0 forbids (and HTML calls parse errors), and lone surrogates (a file name
# that was not UTF-8) which no UTF-8 file can hold. None of them is ever part of our own
# markup, so they are replaced in the finished document by visible escapes.
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _printable(document: str) -> str:
    return _NOT_PRINTABLE.sub(lambda m: f"\\x{{{ord(m.group()):x}}}", document)


def to_junit(report: RecoveryReport) -> str:
    """One case per host (its outcome) and one per step, so that CI systems show each failure
    by name."""
    suite = ET.Element("testsuite", name=f"restore rehearsal: {report.graph_name}")
    tests = failures = skipped = 0
    for host in report.hosts:
        tests += 1
        case = ET.SubElement(
            suite, "testcase", classname=f"{host.service}.{host.host}", name="00 outcome"
        )
        why = _host_failure(report, host)
        if why is not None:
            failures += 1
            ET.SubElement(case, "failure", message=_xml(why, 500)).text = _xml(why, 4000)
        for index, step in enumerate(host.steps or [], 1):
            tests += 1
            duration = (step.ended_s or 0.0) - (step.started_s or 0.0)
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{host.service}.{host.host}",
                name=f"{index:02d} {step.step}",
                time=f"{max(duration, 0.0):.3f}",
            )
            if step.failed:
                failures += 1
                message = step_failure_text(step.detail) or step.status
                ET.SubElement(case, "failure", message=_xml(message, 500)).text = json.dumps(
                    step.detail, default=str
                )[:4000]
            elif step.skipped:
                skipped += 1
                ET.SubElement(
                    case, "skipped", message=str(step.detail.get("reason") or step.status)
                )
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    return _printable(ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")
