"""The hostile-data rules on the pure parts: parsers, caps, probes (no host needed).

Each case is something a compromised host can send; each must end as a finding (never
clean, never an exception) or be bounded by the control node.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from restore.integrity.checks import linux_facts as lf
from restore.integrity.checks.catalog import Context, Parsed
from restore.integrity.checks.indicators import load_indicators
from restore.integrity.checks.linux import CATALOG as LINUX
from restore.integrity.checks.persistence import parse_catalog, unexplained
from restore.integrity.checks.runner import anomaly_findings, evaluate, gather_facts
from restore.integrity.checks.verdict import aggregate
from restore.integrity.checks.windows import CATALOG as WINDOWS
from restore.integrity.evidence import parse_probe
from restore.models import CommandOutput, Verdict
from restore.transports.bounded import Capped
from restore.transports.local import LocalTransport

ROOT = "root:x:0:0:root:/root:/bin/bash\n"


def out(stdout: str) -> CommandOutput:
    return CommandOutput(rc=0, stdout=stdout)


@pytest.mark.parametrize(
    "line",
    [
        "evil:x:0:0",  # four fields: glibc fills gecos, home and shell with ""
        "evil::0:0:",
        "  evil:x:0:0:::/bin/sh",  # glibc skips leading blanks
        "evil:x:00:0:x:/:/bin/sh",
        "evil:x:+0:0:x:/:/bin/sh",  # strtoul takes a sign
        "evil:x: 0:0:x:/:/bin/sh",  # and leading blanks
        "evil:x:-0:0:x:/:/bin/sh",
        "evil:x:4294967296:0:x:/:/bin/sh",  # wraps to 0 as a 32-bit uid
        "evil:x:0:0:x:/root:/bin/bash:extra",
    ],
)
def test_a_uid0_line_glibc_accepts_is_compromised(line: str) -> None:
    parsed = lf.parse_passwd(out(ROOT + line + "\n"))
    assert isinstance(parsed, Parsed)
    assert parsed.value["evil"]["uid"] == 0


@pytest.mark.parametrize(
    "line", ["odd:x:0x0:0::/:/bin/sh", "odd:x:1_0:0::/:/bin/sh", "+@netgroup", "odd:x:0"]
)
def test_a_line_no_parser_understands_is_unaccounted(line: str) -> None:
    parsed = lf.parse_passwd(out(ROOT + line + "\n"))
    assert isinstance(parsed, Parsed) and "odd" not in parsed.value
    assert any(repr(line)[1:-1] in item for item in parsed.unaccounted)


def test_a_second_root_line_is_not_merged_away() -> None:
    parsed = lf.parse_passwd(out(ROOT + "root:x:0:0::/tmp:/tmp/sh\n"))
    assert isinstance(parsed, Parsed)
    assert parsed.value["root"]["shell"] == "/bin/bash"  # glibc answers the first
    assert len([n for n, a in parsed.value.items() if a["uid"] == 0]) == 2


class FakeHost:
    """Answers each fact command with canned text: the runner's handling, not a transport."""

    host = "fake"

    def __init__(self, answers: dict[str, CommandOutput]) -> None:
        self.answers = answers

    def run(self, command: str, timeout: float = 0) -> CommandOutput:
        for marker, answer in self.answers.items():
            if marker in command:
                return answer
        return CommandOutput(rc=0, stdout="[]")


@pytest.mark.parametrize(
    ("marker", "answer"),
    [
        ("restore:services", ["WinRM", 7, None]),
        ("restore:services", "just a string"),
        ("restore:local-admins", {"Name": "evil"}),
        ("restore:scheduled-tasks", [[1, 2], {"TaskName": {"x": 1}}]),
        ("restore:wmi-subscriptions", [True]),
        ("restore:events", ["cleared"]),
        ("restore:files", [{"FullName": 5}]),
        ("restore:defender", {"RealTimeProtectionEnabled": "false", "AntivirusEnabled": 0}),
        ("restore:shadow-copies", {"Count": 3, "DeletionCommands": ["vssadmin delete"]}),
    ],
)
def test_windows_answers_of_any_shape_are_findings(marker: str, answer: Any) -> None:
    clean: dict[str, Any] = {
        "restore:defender": {
            "AntivirusEnabled": True,
            "RealTimeProtectionEnabled": True,
            "AntivirusSignatureAge": 0,
        },
        "restore:shadow-copies": {"Count": 1, "DeletionCommands": []},
    }
    clean[marker] = answer
    host = FakeHost({k: out(json.dumps(v)) for k, v in clean.items()})
    ctx = Context(indicators=load_indicators())
    anomalies: dict[str, list[str]] = {}
    facts, errors = gather_facts(host, WINDOWS, ctx, False, 5, None, anomalies)  # type: ignore[arg-type]
    findings = evaluate(WINDOWS, facts, errors, None, ctx) + anomaly_findings(anomalies)
    assert aggregate(findings) is not Verdict.CLEAN
    assert not any("unreadable output" in f.detail for f in findings)


def test_a_cut_answer_is_a_finding_and_its_strong_indicators_still_count() -> None:
    flood = ROOT + "svc:x:0:0::/:/bin/sh\n" + "A" * 1000
    host = FakeHost({"/etc/passwd": CommandOutput(rc=-1, stdout=flood, truncated=True)})
    ctx = Context(indicators=load_indicators())
    anomalies: dict[str, list[str]] = {}
    facts, errors = gather_facts(host, LINUX, ctx, False, 5, ["accounts"], anomalies)  # type: ignore[arg-type]
    findings = anomaly_findings(anomalies)
    assert {f.check for f in findings} == {"output_truncated", "unparsed_output"}
    assert facts["accounts"]["svc"]["uid"] == 0 and not errors


def test_a_flood_of_odd_lines_keeps_only_the_first_items() -> None:
    parsed = lf.parse_hash_tree(out("junk line\0" * 100_000))
    assert isinstance(parsed, Parsed)
    assert len(parsed.unaccounted) == 201 and parsed.unaccounted[-1].endswith("99800 more")


def test_catalog_names_are_bytes_and_links_are_judged_where_they_point() -> None:
    name = "/etc/cron.d/a\nb|c<d>[e]'\"\\xff"
    listing = (
        f"E\0f\0f\0{name}\0\0" + "a" * 64 + f"  {name}\0"
        "E\0l\0f\0/etc/systemd/system/x.wants/u.service\0/tmp/u.service\0"
        "E\0l\0p\0/etc/profile.d/p.sh\0/run/fifo\0"
        "E\0p\0p\0/etc/cron.d/fifo\0\0"
        "E\0l\0f\0/etc/rc2.d/S01ssh\0../init.d/ssh\0"
        "E\0l\0c\0/etc/systemd/system/masked.service\0/dev/null\0"
    )
    parsed = parse_catalog(out(listing))
    assert isinstance(parsed, Parsed) and not parsed.unaccounted
    assert parsed.value[name] == "a" * 64
    odd = dict(unexplained(parsed.value, ["/etc/init.d/ssh"]))
    assert set(odd) == {
        name,
        "/etc/systemd/system/x.wants/u.service",
        "/etc/profile.d/p.sh",
        "/etc/cron.d/fifo",
    }
    assert "FIFO" in odd["/etc/profile.d/p.sh"] and "FIFO" in odd["/etc/cron.d/fifo"]


def test_the_evidence_probe_tells_special_files_and_links() -> None:
    assert parse_probe("L\0/tmp/x\0S\0fifo\0").special == "fifo"
    probe = parse_probe("L\0/tmp/x\0F\x00" + "12\0" + "b" * 64 + "  -\n")
    assert (probe.link_target, probe.size, probe.sha256) == ("/tmp/x", 12, "b" * 64)


def test_control_side_caps_hold_whatever_the_command_sends(tmp_path: Path) -> None:
    started = time.monotonic()
    flood = LocalTransport().run("yes AAAAAAAAAAAAAAAA", timeout=30)
    assert flood.truncated and len(flood.stdout) == 8 << 20
    assert time.monotonic() - started < 20
    with (tmp_path / "copy").open("wb") as sink:
        capped = Capped(1000, sink)
        assert capped.feed(b"x" * 600) and not capped.feed(b"y" * 600)
    assert (tmp_path / "copy").stat().st_size == 1000


def test_local_copies_never_open_a_fifo_or_a_device(tmp_path: Path) -> None:
    import os

    from restore.transports.base import TransportError

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "zero").symlink_to("/dev/zero")
    for path in (fifo, tmp_path / "zero"):
        started = time.monotonic()
        with pytest.raises(TransportError, match="not a regular file"):
            LocalTransport().get(str(path), tmp_path / "copy", 1 << 20, 5)
        assert time.monotonic() - started < 5


def test_a_step_that_talks_too_much_runs_to_its_end_with_its_last_lines_kept() -> None:
    # steps drain (their exit code is what matters); checks stop at the cap
    script = "head -c 30000000 /dev/zero | tr '\\0' a; echo; echo LAST LINE; exit 3"
    drained = LocalTransport().run(script, timeout=30, drain=True)
    assert (drained.rc, drained.truncated) == (3, True)
    assert drained.stdout.endswith("\nLAST LINE\n") and "bytes dropped" in drained.stdout
    assert len(drained.stdout) < (8 << 20) + 200
    stopped = LocalTransport().run(script, timeout=30)
    assert (stopped.rc, stopped.truncated) == (-1, True)


def test_evidence_never_opens_special_files_and_keeps_link_targets(tmp_path: Path) -> None:
    import os

    from restore.integrity.checks.catalog import fail
    from restore.integrity.evidence import EvidenceStore, read_custody
    from restore.models import Credential, HostSpec
    from restore.models import Platform as P

    host = HostSpec("ctl", P.LINUX, "127.0.0.1", 22, None, Credential("none"))
    site = tmp_path / "host"
    site.mkdir()
    os.mkfifo(site / "pipe")
    (site / "to-pipe").symlink_to(site / "pipe")
    (site / "zero").symlink_to("/dev/zero")
    (site / "payload").write_text("run me\n")
    (site / "link").symlink_to(site / "payload")
    paths = [str(site / n) for n in ("pipe", "to-pipe", "zero", "link")]
    store = EvidenceStore(tmp_path / "state", host_deadline_s=30)
    started = time.monotonic()
    result = store.collect(LocalTransport(), host, [fail("persistence", "odd", paths)])
    assert time.monotonic() - started < 10  # a FIFO read would wait for its timeout
    summary = result[-1]
    for name in ("pipe", "to-pipe", "zero"):
        assert any(e.startswith(str(site / name)) and "never opened" in e for e in summary.evidence)
    (record,) = read_custody(tmp_path / "state", "ctl")
    assert record["link_target"] == str(site / "payload") and record["size"] == 7


def test_evidence_of_one_host_has_a_deadline_of_its_own(tmp_path: Path) -> None:
    from restore.integrity.checks.catalog import fail
    from restore.integrity.evidence import EvidenceStore
    from restore.models import Credential, HostSpec
    from restore.models import Platform as P

    class SlowHost(LocalTransport):
        def run(self, command: str, timeout: float = 0, *, drain: bool = False) -> CommandOutput:
            time.sleep(min(timeout, 1.0))  # every probe answers late
            return super().run(command, timeout, drain=drain)

    host = HostSpec("ctl", P.LINUX, "127.0.0.1", 22, None, Credential("none"))
    files = []
    for i in range(10):
        (tmp_path / f"f{i}").write_text("x")
        files.append(str(tmp_path / f"f{i}"))
    store = EvidenceStore(tmp_path / "state", host_deadline_s=2.5)
    started = time.monotonic()
    summary = store.collect(SlowHost(), host, [fail("persistence", "odd", files)])[-1]
    assert time.monotonic() - started < 6
    assert sum("evidence deadline" in e for e in summary.evidence) >= 6


def test_one_winrm_answer_larger_than_the_cap_is_refused_while_read() -> None:
    # a real pywinrm session against an endpoint that answers with an endless body
    import http.server
    import threading

    from restore.models import Credential, HostSpec
    from restore.models import Platform as P
    from restore.transports.base import TransportError
    from restore.transports.winrm import MAX_RESPONSE_BYTES, WinrmTransport

    sent = []

    class Flood(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml")
            self.end_headers()
            block = b"<a>" + b"x" * 65536 + b"</a>"
            try:
                for _ in range(10 * MAX_RESPONSE_BYTES // len(block)):
                    self.wfile.write(block)
                    sent.append(len(block))
            except OSError:  # the client stopped reading: what the cap is for
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flood)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        spec = HostSpec(
            "w1",
            P.WINDOWS,
            "127.0.0.1",
            server.server_address[1],
            "Administrator",
            Credential("password", "ansible_password"),
            connection_vars=(
                ("ansible_winrm_scheme", "http"),
                ("ansible_winrm_transport", "basic"),
            ),
            secret_vars=(("ansible_password", "lab"),),
        )
        with pytest.raises(TransportError, match="more than"):
            WinrmTransport(spec).connect(10)
    finally:
        server.shutdown()
    assert sum(sent) < 10 * MAX_RESPONSE_BYTES  # reading stopped; the body was not drained
