"""Registry values from a backed-up hive are the attacker's text: every corpus string, as a
Run value's data (and as its name where a .reg file can spell it), comes out of the scan
escaped and bounded, on one line (DESIGN §9)."""

from __future__ import annotations

from pathlib import Path

from restore.backups import analysis, registry_hives, tree
from restore.backups.content import Content, ContentCache
from restore.integrity.checks.indicators import load_indicators
from tests.hives import write_hive
from tests.hostile.corpus import HOSTILE

RUN = r"Microsoft\Windows\CurrentVersion\Run"


def _spellable_name(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not set(text) & {"\n", "\r", "\0"}


def test_hostile_run_values_are_escaped_bounded_findings(tmp_path: Path) -> None:
    values = {f"v{i}": text for i, text in enumerate(HOSTILE)}
    # a .reg value name is one quoted line of UTF-8 text: corpus strings that fit it
    values |= {text: "x" for text in HOSTILE if _spellable_name(text)}
    write_hive(tmp_path / "clean", {RUN: {}})
    write_hive(tmp_path / "hostile", {RUN: values})
    path = "/C/Windows/System32/config/SOFTWARE"
    cache = ContentCache()
    nodes = []
    for day, name in enumerate(("clean", "hostile")):
        data = (tmp_path / name).read_bytes()
        node = tree.Node(path, "file", len(data), 0o644, str(day), str(day), 0, 0)
        reading = registry_hives.read_autostart(data, registry_hives.SOFTWARE)
        cache.by_key[node.content_key()] = Content(str(day), truncated=False, hive=reading)
        nodes.append(node)
    rules = analysis.Rules(indicators=load_indicators())
    baseline = analysis.baseline_of([nodes[0]], cache)
    assert analysis.analyse([nodes[0]], cache, baseline, rules) == []
    findings = analysis.analyse([nodes[1]], cache, baseline, rules)
    # every value is a finding (the per-check bound keeps 20 and says how many more)
    assert len(findings) == analysis.MAX_FINDINGS_PER_CHECK + 1
    assert findings[-1].detail == f"and {len(values) - analysis.MAX_FINDINGS_PER_CHECK} more"
    hostile = cache.by_key[nodes[1].content_key()].hive
    assert hostile is not None and hostile.problems == ()
    every = list(analysis.hive_findings(path, hostile, baseline.autostart[path]))
    assert len(every) == len(values)
    for finding in every:
        assert finding.severity == analysis.SUSPECT
        assert not set(finding.detail) & {"\n", "\r", "\x1b", "\x00", "\u202e"}, finding.detail
        assert len(finding.detail) < 700
    by_name = {v.name: v.data for v in hostile.values}
    long_value = by_name[f"v{HOSTILE.index('x' * 20_000)}"]  # held in big-data segments
    assert long_value == "x" * registry_hives.MAX_DATA_CHARS + "[cut]"
