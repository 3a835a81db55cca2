"""From findings to one verdict. A host is clean only when every check ran and passed.

A check that could not run (error) cannot vouch for the host, so it makes the host
``suspect``, never ``clean``: the integrity gate fails closed.
"""

from __future__ import annotations

from collections.abc import Iterable

from restore.models import Finding, FindingStatus, Severity, Verdict


def aggregate(findings: Iterable[Finding]) -> Verdict:
    verdict = Verdict.CLEAN
    for finding in findings:
        if finding.status is FindingStatus.FAIL and finding.severity is Severity.STRONG:
            return Verdict.COMPROMISED
        if finding.status is FindingStatus.ERROR or (
            finding.status in {FindingStatus.FAIL, FindingStatus.WARN}
            and finding.severity is not Severity.INFO
        ):
            verdict = Verdict.SUSPECT
    return verdict


def explain(verdict: Verdict, findings: Iterable[Finding]) -> str:
    """One line saying why: the strongest findings first."""
    if verdict is Verdict.CLEAN:
        return "every check passed"
    relevant = [f for f in findings if f.status in {FindingStatus.FAIL, FindingStatus.ERROR}]
    relevant.sort(key=lambda f: f.severity is not Severity.STRONG)
    return "; ".join(f"{f.check}: {f.detail}" for f in relevant[:2]) or verdict.value
