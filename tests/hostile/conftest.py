"""Hostile hosts: real lab hosts that an attacker controls, and a way to check them.

One lab per module (a Linux and a Windows host); each test plants its attack, runs the real
`restore check` binary in a subprocess whose peak memory is measured, and the host is reset
to its golden image afterwards, whatever happened.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from restore.lab import Lab
from restore.models import Platform


@pytest.fixture(scope="module", autouse=True)
def _no_operator_vault_password() -> Iterator[None]:
    """These tests bring their own vault passwords: the one `make test` exports for the example
    hospital (ANSIBLE_VAULT_PASSWORD_FILE) would be a second, conflicting vault id."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
        yield


# Generous bounds: they catch a hang or a flood held in memory, not a slow machine.
WALL_LIMIT_S = 60.0
RSS_LIMIT_MIB = 400

# Runs the CLI as the only child of a fresh interpreter, so RUSAGE_CHILDREN is its peak RSS.
_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.monotonic()\n"
    "r = subprocess.run([sys.executable, '-m', 'restore', *sys.argv[1:]], capture_output=True)\n"
    "print(json.dumps({'rc': r.returncode, 'wall_s': time.monotonic() - t,\n"
    "    'rss_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,\n"
    "    'stdout': r.stdout.decode('utf-8', 'replace'),\n"
    "    'stderr': r.stderr.decode('utf-8', 'replace')}))\n"
)


@dataclass
class CheckRun:
    rc: int
    wall_s: float
    rss_mib: float
    report: dict[str, Any]
    stderr: str

    @property
    def host(self) -> dict[str, Any]:
        hosts: list[dict[str, Any]] = self.report["hosts"]
        return hosts[0]

    @property
    def verdict(self) -> str:
        return str(self.host["verdict"])

    def findings(self, check: str) -> list[dict[str, Any]]:
        return [f for f in self.host["findings"] if f["check"] == check]

    def failed(self) -> set[str]:
        return {f["check"] for f in self.host["findings"] if f["status"] in {"fail", "error"}}

    def evidence_text(self) -> str:
        return "\n".join(e for f in self.host["findings"] for e in f["evidence"])


@dataclass
class HostileLab:
    lab: Lab
    inventory: Path
    state: Path

    def plant(self, host: str, script: str) -> None:
        self.lab.run_on(host, "set -e\n" + script)

    def check(self, host: str, *extra: str) -> CheckRun:
        measured = subprocess.run(
            [
                sys.executable,
                "-c",
                _MEASURE,
                "check",
                "-i",
                str(self.inventory),
                host,
                "--state-dir",
                str(self.state),
                "--format",
                "json",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=WALL_LIMIT_S * 3,
        )
        data = json.loads(measured.stdout)
        assert data["rc"] in {0, 3}, data["stderr"][-2000:]
        return CheckRun(
            data["rc"],
            data["wall_s"],
            data["rss_mib"],
            json.loads(data["stdout"]),
            data["stderr"],
        )

    def capture_baseline(
        self, host: str, out: Path, *extra: str
    ) -> subprocess.CompletedProcess[str]:
        """`restore baseline capture` of the host into `out` (the real program, run to its end)."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "restore",
                "baseline",
                "capture",
                "-i",
                str(self.inventory),
                host,
                "-o",
                str(out),
                "--state-dir",
                str(self.state),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    def evidence_bytes(self, host: str) -> int:
        root = self.state / "evidence" / host
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileLab]:
    state = tmp_path_factory.mktemp("hostile")
    lab = Lab(state / "lab-state")
    try:
        inventory = lab.up([("evil", Platform.LINUX), ("wevil", Platform.WINDOWS)])
        yield HostileLab(lab, inventory, state / "run-state")
    finally:
        Lab(state / "lab-state").down()


@pytest.fixture
def attacked(hostile: HostileLab) -> Iterator[HostileLab]:
    """The module's lab; every host reset to its golden image after the test."""
    yield hostile
    for name in ("evil", "wevil"):
        Lab(hostile.lab.state_dir).reset(name)
