"""Check a JUnit report the way a CI system reads it: against tests/schemas/junit.xsd, then
the counts that XSD 1.0 cannot express (each suite's tests/failures/skipped agree with its
cases)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import xmlschema

SCHEMA = Path(__file__).parent / "schemas" / "junit.xsd"


@cache
def _schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


def validate_junit(text: str) -> ET.Element:
    """Raise if `text` is not a valid JUnit report; return its root."""
    _schema().validate(text)
    root = ET.fromstring(text.split("?>", 1)[1] if text.startswith("<?xml") else text)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        cases = list(suite.iter("testcase"))
        assert int(suite.get("tests", "-1")) == len(cases), "tests= disagrees with the cases"
        for outcome, attribute in (("failure", "failures"), ("skipped", "skipped")):
            counted = sum(1 for case in cases if case.find(outcome) is not None)
            assert int(suite.get(attribute, "0")) == counted, f"{attribute}= disagrees"
    return root
