"""`restore report`: the recovery report of a run, from the journal."""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer

from restore.cli import console
from restore.cli.options import STATE_DIR_OPTION


class ReportFormat(enum.StrEnum):
    MD = "md"
    HTML = "html"
    JSON = "json"
    JUNIT = "junit"


def render(report_format: ReportFormat, report: object) -> str:
    from restore.reporting.model import RecoveryReport
    from restore.reporting.render import to_html, to_json, to_junit, to_markdown

    assert isinstance(report, RecoveryReport)
    if report_format is ReportFormat.HTML:
        return to_html(report)
    if report_format is ReportFormat.JSON:
        return json.dumps(to_json(report), indent=2, default=str) + "\n"
    if report_format is ReportFormat.JUNIT:
        return to_junit(report)
    return to_markdown(report)


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        run: str | None = typer.Option(None, "--run", help="Run id (default: the latest run)."),
        report_format: ReportFormat = typer.Option(
            ReportFormat.MD,
            "--format",
            help="md, html (one self-contained printable page), json, or junit (one test "
            "case per host and step).",
            case_sensitive=False,
        ),
        output: Path | None = typer.Option(
            None, "-o", "--output", help="Write here (default: stdout)."
        ),
        state_dir: Path = STATE_DIR_OPTION,
    ) -> None:
        """The recovery report: timeline, Gantt chart, time to recover against each RTO,
        integrity verdicts and findings, evidence index with hashes and custody, every
        operator decision, and the main courante (the timestamped log of actions) — all
        from the hash-chained journal."""
        from restore.cli.progress import steps
        from restore.reporting.build import REPORT_PHASES, report_for_run

        # a count of phases done (journal read, chain verified, report built, rendered)
        with steps("building the report", REPORT_PHASES + 1) as advance:
            text = render(report_format, report_for_run(state_dir, run, progress=advance))
            advance(f"rendered as {report_format.value}")
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text)
            console.info(f"report written to {output}")
