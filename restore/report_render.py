"""Render a RecoveryReport as Markdown, self-contained HTML, JSON or JUnit XML (pure)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from html import escape
from typing import Any
from xml.etree import ElementTree as ET

from restore import markdown_text as md
from restore.durations import format_duration
from restore.report_model import RecoveryReport
from restore.svg_gantt import Bar, gantt_svg

FAILED_STEP_STATES = frozenset({"failed", "timed_out", "refused"})
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
    # escaped writer (restore.markdown_text), our own fixed words too, for one simple rule.
    t, c, row = md.text, md.code, md.row
    out = [
        f"# Recovery report — {t(report.graph_name)}",
        "",
        f"Run {c(report.run_id)}: **{t(report.outcome)}**. "
        f"Started {t(_when(report.run_started))}, ended {t(_when(report.run_ended))}. "
        f"Incident declared {t(_when(report.incident_at))}.",
        "",
        f"Journal head hash: {c(report.head_hash or 'unknown')} "
        f"(chain {t(_CHAIN[report.chain_ok])}).",
        "",
        "## Services: time to recover",
        "",
        "| Service | Priority | Back after (run) | Since incident | RTO | RTO met |",
        "|---|---|---|---|---|---|",
    ]
    for s in report.services:
        out.append(
            row(
                f"{t(s.id)} — {t(s.name)}",
                t(s.priority),
                t(_dur(s.restored_s)),
                t(_dur(s.restored_since_incident_s)),
                t(_dur(s.rto_s) if s.rto_s else "—"),
                t(_rto(s.met_rto)),
            )
        )
    out += [
        "",
        "## Hosts",
        "",
        "| Host | Service | State | Verdict | Start | End |",
        "|---|---|---|---|---|---|",
    ]
    for h in report.hosts:
        out.append(
            row(
                t(h.host),
                t(h.service),
                t(h.state),
                t(h.verdict or "—"),
                t(_dur(h.started_s)),
                t(_dur(h.ended_s)),
            )
        )
    out += ["", "## Integrity verdicts", ""]
    for v in report.verdicts:
        out.append(f"- {t(v['ts'])} **{t(v['host'])}**: {t(v['verdict'])}")
        for finding in v["findings"]:
            if isinstance(finding, dict) and finding.get("status") == "pass":
                continue
            out.append(f"  - {t(_finding_text(finding))}")
    out += [
        "",
        "## Evidence index",
        "",
        "| Host | File | SHA-256 | Size | Collected | By |",
        "|---|---|---|---|---|---|",
    ]
    for e in report.evidence:
        out.append(
            row(
                t(e.get("host")),
                t(e.get("source") or e.get("path")),
                c(e.get("sha256")),
                t(e.get("size", "")),
                t(e.get("collected_at", "")),
                t(e.get("collected_by", "")),
            )
        )
    out += [
        "",
        "## Operator decisions",
        "",
        "| Time | Host | Step | Decision | By | Reason |",
        "|---|---|---|---|---|---|",
    ]
    for d in report.decisions:
        out.append(
            row(
                t(d["ts"]),
                t(d["host"] or ""),
                t(d["step"] or ""),
                t(d["decision"]),
                t(d["by"] or ""),
                t(d["reason"] or ""),
            )
        )
    out += [
        "",
        "## Main courante",
        "",
        "| # | Time | Host | Step | Event | By |",
        "|---|---|---|---|---|---|",
    ]
    for line in report.main_courante:
        out.append(
            row(
                t(line["seq"]),
                t(line["ts"]),
                t(line["host"] or ""),
                t(line["step"] or ""),
                t(line["summary"]),
                t(line["by"] or ""),
            )
        )
    return "\n".join(out) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#111;max-width:1100px}
h1{font-size:1.6em}h2{border-bottom:2px solid #333;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}.missed,.failed,.compromised{color:#b00020;font-weight:bold}
.met,.reconnected,.clean{color:#1b5e20}.suspect{color:#e65100}
code{font-size:.85em;word-break:break-all}
.outcome{font-size:1.2em;padding:.3em .6em;border:2px solid #333;display:inline-block}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}
tr{page-break-inside:avoid}svg{max-width:100%;height:auto}}
"""


def _table(headers: list[str], rows: list[list[str]], css: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{escape(css[i])}"' if css and css[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def to_html(report: RecoveryReport) -> str:
    e = escape
    chain = _CHAIN[report.chain_ok]
    sections = [
        f"<h1>Recovery report — {e(report.graph_name)}</h1>",
        f'<p class="outcome" id="outcome">Outcome: <strong>{e(report.outcome)}</strong></p>',
        f"<p>Run <code>{e(report.run_id)}</code>, started {e(_when(report.run_started))}, "
        f"ended {e(_when(report.run_ended))}; "
        f"incident declared {e(_when(report.incident_at))}.</p>",
        f'<p>Journal head hash <code id="head-hash">{e(report.head_hash or "unknown")}</code> '
        f"(chain {e(chain)}).</p>",
        "<h2>Services: time to recover</h2>",
        _table(
            ["Service", "Priority", "Back after (run)", "Since incident", "RTO", "RTO met"],
            [
                [
                    f"{e(s.id)} — {e(s.name)}",
                    str(s.priority),
                    e(_dur(s.restored_s)),
                    e(_dur(s.restored_since_incident_s)),
                    e(_dur(s.rto_s)) if s.rto_s else "—",
                    f'<span class="{_RTO_CLASS[s.met_rto]}">{e(_rto(s.met_rto))}</span>',
                ]
                for s in report.services
            ],
        ),
        "<h2>Timeline</h2>",
        gantt_svg(_bars(report), title="Hosts over time (from the start of the run)"),
        _table(
            ["Host", "Service", "State", "Verdict", "Start", "End"],
            [
                [
                    e(h.host),
                    e(h.service),
                    f'<span class="{e(h.state)}">{e(h.state)}</span>',
                    f'<span class="{e(h.verdict or "")}">{e(h.verdict or "—")}</span>',
                    e(_dur(h.started_s)),
                    e(_dur(h.ended_s)),
                ]
                for h in report.hosts
            ],
        ),
        "<h2>Integrity verdicts</h2>",
        _table(
            ["Time", "Host", "Verdict", "Findings"],
            [
                [
                    e(str(v["ts"])),
                    e(str(v["host"])),
                    f'<span class="{e(str(v["verdict"]))}">{e(str(v["verdict"]))}</span>',
                    "<br>".join(
                        e(_finding_text(f))
                        for f in v["findings"]
                        if not (isinstance(f, dict) and f.get("status") == "pass")
                    )
                    or "no finding",
                ]
                for v in report.verdicts
            ],
        ),
        "<h2>Evidence index and custody</h2>",
        _table(
            ["Host", "File", "SHA-256", "Size", "Collected", "By"],
            [
                [
                    e(str(x.get("host"))),
                    e(str(x.get("source") or x.get("path"))),
                    f"<code>{e(str(x.get('sha256')))}</code>",
                    e(str(x.get("size", ""))),
                    e(str(x.get("collected_at", ""))),
                    e(str(x.get("collected_by", ""))),
                ]
                for x in report.evidence
            ],
        ),
        "<h2>Operator decisions</h2>",
        _table(
            ["Time", "Host", "Step", "Decision", "By", "Reason"],
            [
                [
                    e(str(d["ts"])),
                    e(str(d["host"] or "")),
                    e(str(d["step"] or "")),
                    e(str(d["decision"])),
                    e(str(d["by"] or "")),
                    e(str(d["reason"] or "")),
                ]
                for d in report.decisions
            ],
        ),
        "<h2>Main courante</h2>",
        "<p>Every action, in order, as recorded in the hash-chained journal.</p>",
        _table(
            ["#", "Time", "Host", "Step", "Event", "By"],
            [
                [
                    e(str(c["seq"])),
                    e(str(c["ts"])),
                    e(str(c["host"] or "")),
                    e(str(c["step"] or "")),
                    e(str(c["summary"])),
                    e(str(c["by"] or "")),
                ]
                for c in report.main_courante
            ],
        ),
    ]
    return _printable(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Recovery report — {e(report.graph_name)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>\n"
    )


# Characters XML 1.0 forbids (and HTML calls parse errors), and lone surrogates (a file name
# that was not UTF-8) which no UTF-8 file can hold. None of them is ever part of our own
# markup, so they are replaced in the finished document by visible escapes.
_NOT_PRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _printable(document: str) -> str:
    return _NOT_PRINTABLE.sub(lambda m: f"\\x{{{ord(m.group()):x}}}", document)


def to_junit(report: RecoveryReport) -> str:
    """One testcase per host and step, so that CI systems show each failure by name."""
    suite = ET.Element("testsuite", name=f"restore rehearsal: {report.graph_name}")
    tests = failures = skipped = 0
    for host in report.hosts:
        steps = host.steps or []
        if not steps:
            case = ET.SubElement(
                suite, "testcase", classname=f"{host.service}.{host.host}", name="restore"
            )
            tests += 1
            if host.state in {"blocked", "failed"}:
                failures += 1
                ET.SubElement(
                    case, "failure", message=f"host {host.state}"
                ).text = f"{host.host} {host.state}"
        for index, step in enumerate(steps, 1):
            tests += 1
            duration = (step.ended_s or 0.0) - (step.started_s or 0.0)
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{host.service}.{host.host}",
                name=f"{index:02d} {step.step}",
                time=f"{max(duration, 0.0):.3f}",
            )
            if step.status in FAILED_STEP_STATES or step.status == "running":
                failures += 1
                message = str(step.detail.get("error") or step.detail.get("reason") or step.status)
                ET.SubElement(case, "failure", message=message[:500]).text = json.dumps(
                    step.detail, default=str
                )[:4000]
            elif step.status in {"skipped", "waived"}:
                skipped += 1
                ET.SubElement(
                    case, "skipped", message=str(step.detail.get("reason") or step.status)
                )
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    return _printable(ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")
