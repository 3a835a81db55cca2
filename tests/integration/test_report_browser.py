"""The HTML report renders in a real headless Chromium (Debian's package), with a screenshot.

Chromium runs with no network (background networking off) against a file:// URL: the report
must be self-contained to render at all.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from restore.reporting.render import to_html
from tests.unit.test_report import make

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "build"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is installed by scripts/bootstrap.sh (package chromium)"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html(make()))
    dom = _chromium(["--dump-dom", page.as_uri()], tmp_path / "profile1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="outcome"' in dom.stdout and "failed" in dom.stdout
    assert dom.stdout.count('class="bar"') == 3  # one Gantt bar per host
    assert "README_DECRYPT.txt" in dom.stdout  # evidence index rendered
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shot = SCREENSHOT_DIR / "report-screenshot.png"
    result = _chromium(
        [f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()], tmp_path / "profile2"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
