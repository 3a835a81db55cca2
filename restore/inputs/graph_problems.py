"""Every problem of a graph file, collected so that the user sees them all at once.

Each problem becomes an InputError naming the file, the service, the key and the line
(DESIGN §3). Beside the collector: the two value checks every part of the graph shares, a
duration and a playbook path, which report into it and let the loading go on.
"""

from __future__ import annotations

from pathlib import Path

from restore.errors import InputError, InputErrors
from restore.inputs.durations import DURATION_HELP, parse_duration
from restore.inputs.typos import did_you_mean
from restore.inputs.yaml_source import PathKey, YamlDocument


class Collector:
    """Gathers every problem in a graph file so the user sees them all at once."""

    def __init__(self, path: Path, doc: YamlDocument) -> None:
        self.path = path
        self.doc = doc
        self.errors: list[InputError] = []

    def service_id_at(self, index: int) -> str | None:
        services = self.doc.data.get("services") if isinstance(self.doc.data, dict) else None
        if isinstance(services, list) and index < len(services):
            entry = services[index]
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                return str(entry["id"])
        return None

    def add(
        self,
        message: str,
        loc: PathKey,
        *,
        key: str | None = None,
        hint: str | None = None,
        service: str | None = None,
    ) -> None:
        if service is None and len(loc) >= 2 and loc[0] == "services" and isinstance(loc[1], int):
            service = self.service_id_at(loc[1])
        if key is None:
            named = [str(p) for p in loc if isinstance(p, str)]
            key = ".".join(named[1:] if named[:1] == ["services"] else named) or None
        self.errors.append(
            InputError(
                message,
                file=str(self.path),
                service=service,
                key=key,
                line=self.doc.line_of(loc),
                hint=hint,
            )
        )

    def raise_if_any(self) -> None:
        # In the file's order, as the user reads it (problems without a line last).
        self.errors.sort(key=lambda e: e.line if e.line is not None else 1 << 30)
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InputErrors(self.errors)


def duration(
    text: str | None, errors: Collector, loc: PathKey, service: str | None = None
) -> float | None:
    """Seconds for `30m`, `8h`...; None when absent or refused (then reported)."""
    if text is None:
        return None
    try:
        return parse_duration(str(text))
    except ValueError:
        errors.add(f"bad duration {text!r}", loc, service=service, hint=DURATION_HELP)
        return None


def playbook(
    ref: str, playbook_dir: Path, errors: Collector, loc: PathKey, service: str | None = None
) -> Path:
    """A playbook reference resolved against playbook_dir; a missing file is reported, with
    the nearest existing playbook's name for a typo."""
    candidate = Path(ref)
    resolved = candidate if candidate.is_absolute() else playbook_dir / candidate
    if not resolved.is_file():
        existing = (
            sorted(p.name for p in playbook_dir.glob("*.y*ml")) if playbook_dir.is_dir() else []
        )
        errors.add(
            f"playbook {ref!r} does not exist (looked for {resolved})",
            loc,
            service=service,
            hint=did_you_mean(candidate.name, existing)
            or "paths are relative to playbook_dir, itself relative to the graph file",
        )
    return resolved
