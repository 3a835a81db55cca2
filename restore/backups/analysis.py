"""One snapshot's files -> findings: indicators, known-bad hashes, persistence, baseline diff.

Pure: it reads only what content.ContentCache already holds. The oldest snapshot kept is
the baseline for every diff (new cron job, new key, new or changed system binary); its own
indicators, ld.so.preload and UID-0 accounts are judged like any other snapshot's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from restore.backups import registry_hives, tree
from restore.backups.content import Content, ContentCache
from restore.backups.file_parsers import (
    authorized_keys_from_bytes,
    passwd_from_bytes,
    preload_from_bytes,
)
from restore.backups.yara_rules import YaraRules
from restore.integrity.checks.catalog import FactError
from restore.integrity.checks.indicators import Indicators

COMPROMISED = "compromised"
SUSPECT = "suspect"
NOTE = "note"  # recorded, but does not change the verdict
MAX_FINDINGS_PER_CHECK = 20
SHOWN_CHARS = 200  # of a registry value's name or data in a finding's detail


@dataclass(frozen=True)
class Finding:
    check: str
    detail: str
    path: str
    severity: str


@dataclass(frozen=True)
class Baseline:
    """What the oldest snapshot held: paths, content hashes of read files, authorized keys,
    and the autostart values of each registry hive (by hive path, then key and value name)."""

    paths: frozenset[str] = frozenset()
    hashes: dict[str, str] = field(default_factory=dict)
    keys: frozenset[str] = frozenset()
    autostart: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    indicators: Indicators
    bad_hashes: frozenset[str] = frozenset()
    yara: YaraRules | None = None  # --rules DIR

    @property
    def every_file(self) -> bool:
        """Whether every file's content must be read (hashes and rules look at any file)."""
        return bool(self.bad_hashes) or self.yara is not None


def _contents(nodes: Iterable[tree.Node], cache: ContentCache) -> dict[str, Content]:
    found: dict[str, Content] = {}
    for node in nodes:
        content = cache.get(node) if node.type == "file" else None
        if content is not None:
            found[node.path] = content
    return found


def _keys(contents: dict[str, Content], findings: list[Finding]) -> set[str]:
    keys: set[str] = set()
    for path, content in contents.items():
        if tree.is_authorized_keys(path) and content.text is not None:
            found, odd = authorized_keys_from_bytes(path, content.text)
            keys |= set(found)
            for line in odd[:3]:
                findings.append(
                    Finding(
                        "authorized_keys",
                        f"a line that holds no readable key: {line!r}",
                        path,
                        SUSPECT,
                    )
                )
    return keys


def baseline_of(nodes: list[tree.Node], cache: ContentCache) -> Baseline:
    contents = _contents(nodes, cache)
    return Baseline(
        paths=frozenset(n.path for n in nodes),
        hashes={p: c.sha256 for p, c in contents.items()},
        keys=frozenset(_keys(contents, [])),
        autostart={
            path: {v.identity: v.data for v in c.hive.values}
            for path, c in contents.items()
            if c.hive is not None
        },
    )


NodeMemo = dict[tuple[str, int, str, str, int, int, int, str], tuple[Finding, ...]]
"""A node's own findings by its identity: judged once for every snapshot holding it."""


def analyse(
    nodes: list[tree.Node],
    cache: ContentCache,
    baseline: Baseline,
    rules: Rules,
    memo: NodeMemo | None = None,
) -> list[Finding]:
    """Findings of one snapshot. ``memo`` (one per host scan, same baseline) spares judging
    again, in each of 30 snapshots, the files that did not change."""
    findings: list[Finding] = []
    contents = _contents(nodes, cache)
    memo = {} if memo is None else memo
    for node in nodes:
        key = (*node.content_key(), node.type)
        found = memo.get(key)
        if found is None:
            found = tuple(_node_findings(node, contents.get(node.path), baseline, rules))
            memo[key] = found
        findings.extend(found)
    findings.extend(_accounts(contents))
    findings.extend(_preload(contents))
    keys_findings: list[Finding] = []
    for entry in sorted(_keys(contents, keys_findings) - baseline.keys):
        path, _, rest = entry.partition(" ")
        keys_findings.append(
            Finding("authorized_keys", f"key not in the baseline snapshot: {rest}", path, SUSPECT)
        )
    findings.extend(keys_findings)
    return _bounded(findings)


def _node_findings(
    node: tree.Node, content: Content | None, baseline: Baseline, rules: Rules
) -> Iterable[Finding]:
    path, name = node.path, node.name
    if rules.indicators.is_note(name):
        yield Finding("ransom_note", "file named like a ransom note", path, COMPROMISED)
    elif ext := rules.indicators.encrypted_extension(name):
        yield Finding("encrypted_file", f"ransomware extension .{ext}", path, COMPROMISED)
    new = path not in baseline.paths
    kind = tree.persistence_kind(path)
    if kind is not None and node.type != "dir":
        if new:
            yield Finding(
                f"persistence_{kind}", f"new {node.type} since the baseline", path, SUSPECT
            )
        elif content is not None and baseline.hashes.get(path) not in (None, content.sha256):
            yield Finding(
                f"persistence_{kind}", "content changed since the baseline", path, SUSPECT
            )
    if tree.in_system_dir(path) and node.type == "file":
        if new and node.executable:
            yield Finding("new_system_executable", "executable not in the baseline", path, SUSPECT)
        elif content is not None and baseline.hashes.get(path) not in (None, content.sha256):
            yield Finding(
                "changed_system_binary",
                f"content differs from the baseline (sha256 {content.sha256[:16]}...)",
                path,
                SUSPECT,
            )
    if content is None:
        return
    if content.sha256 in rules.bad_hashes and not content.truncated:
        yield Finding(
            "known_bad_hash", f"sha256 {content.sha256} is on the known-bad list", path, COMPROMISED
        )
    for match in content.yara:
        yield Finding("yara", f"matches YARA rule {match.rule}", path, match.severity)
    if content.yara_error:
        yield Finding("yara", content.yara_error, path, NOTE)
    if content.hive is not None:
        yield from hive_findings(path, content.hive, baseline.autostart.get(path, {}))
        return  # a hive too large to parse says so itself
    if content.error:
        parsed = tree.needs_text(path) or kind or tree.registry_hive_kind(path)
        severity = SUSPECT if parsed else NOTE
        yield Finding("unreadable", f"could not be read: {content.error}", path, severity)
    elif content.truncated:
        # a parsed file that does not fit the cap cannot be judged clean
        severity = SUSPECT if tree.needs_text(path) or kind else NOTE
        yield Finding(
            "truncated",
            f"larger than the read cap ({node.size} bytes): judged on its first bytes only",
            path,
            severity,
        )


def _shown(text: str) -> str:
    """A registry name or data as a finding shows it: escaped (repr), bounded."""
    cut = text[:SHOWN_CHARS]
    return repr(cut) + ("..." if len(text) > SHOWN_CHARS else "")


def hive_findings(
    path: str, hive: registry_hives.HiveReading, baseline: dict[tuple[str, str], str]
) -> Iterable[Finding]:
    """Autostart values added or changed since the baseline's hive at the same path (a
    hive the baseline did not hold: each of its values is new), and what could not be read."""
    for value in hive.values:
        before = baseline.get(value.identity)
        if before == value.data:
            continue
        what = "added since the baseline" if before is None else "changed since the baseline"
        detail = f"{what}: {value.key} value {_shown(value.name)} = {_shown(value.data)}"
        if before is not None:
            detail += f" (was {_shown(before)})"
        yield Finding("persistence_run_key", detail, path, SUSPECT)
    for problem in hive.problems:
        yield Finding(
            "unparsed_hive", f"registry hive not fully read: {_shown(problem)}", path, SUSPECT
        )


def _accounts(contents: dict[str, Content]) -> list[Finding]:
    content = contents.get(tree.PASSWD)
    if content is None or content.text is None:
        return []
    accounts, odd = passwd_from_bytes(content.text)
    findings = [
        Finding("uid0_accounts", f"UID 0 account besides root: {name!r}", tree.PASSWD, COMPROMISED)
        for name, account in sorted(accounts.items())
        if account["uid"] == 0 and name != "root"
    ]
    findings += [
        Finding(
            "passwd", f"a line glibc would not read as an account: {line!r}", tree.PASSWD, SUSPECT
        )
        for line in odd[:3]
    ]
    return findings


def _preload(contents: dict[str, Content]) -> list[Finding]:
    content = contents.get(tree.PRELOAD)
    if content is None or content.text is None:
        return []
    try:
        entries = preload_from_bytes(content.text)["entries"]
    except FactError as exc:
        return [Finding("ld_preload", f"unreadable: {exc}", tree.PRELOAD, SUSPECT)]
    if entries:
        shown = ", ".join(repr(e) for e in entries[:3])
        return [
            Finding("ld_preload", f"loads {shown} into every process", tree.PRELOAD, COMPROMISED)
        ]
    return [Finding("ld_preload", "present but empty", tree.PRELOAD, NOTE)]


def _bounded(findings: list[Finding]) -> list[Finding]:
    """At most MAX_FINDINGS_PER_CHECK per check (an encrypted disk has a million files)."""
    counts: dict[str, int] = {}
    kept: list[Finding] = []
    worst: dict[str, str] = {}
    for finding in findings:
        counts[finding.check] = counts.get(finding.check, 0) + 1
        if counts[finding.check] <= MAX_FINDINGS_PER_CHECK:
            kept.append(finding)
        elif worst.get(finding.check) != COMPROMISED:
            worst[finding.check] = finding.severity
    for check, count in counts.items():
        if count > MAX_FINDINGS_PER_CHECK:
            more = count - MAX_FINDINGS_PER_CHECK
            kept.append(Finding(check, f"and {more} more", "", worst.get(check, NOTE)))
    return kept
