"""The evidence store: suspicious files copied off a host, hashed, with a custody record.

Layout under the state dir: ``evidence/<host>/<sha256>`` holds each copy (named by its own
hash, so a file seen twice is stored once) and ``evidence/<host>/custody.jsonl`` one line per
collection: who, when, from which host and address, the remote path, the sha256 of the whole
file as the host computed it, and the sha256 and size of the copy (a copy is bounded in size:
a truncated copy says so). Files on the host are only read, never deleted or moved: they are
evidence until the host is reimaged, and investigators may want them in place.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import shlex
import socket
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from restore.models import Finding, FindingStatus, HostSpec, Platform, Severity
from restore.transports import Transport, TransportError

MAX_FILE_BYTES = 1 << 20
MAX_FILES_PER_HOST = 50
MAX_BYTES_PER_HOST = 64 << 20


@dataclass(frozen=True)
class EvidenceRecord:
    host: str
    address: str
    remote_path: str
    remote_sha256: str | None
    remote_size: int | None
    sha256: str
    size: int
    truncated: bool
    stored_as: str
    collected_at: str
    collected_by: str
    check: str


class EvidenceStore:
    def __init__(
        self,
        state_dir: Path,
        *,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_files: int = MAX_FILES_PER_HOST,
        max_bytes: int = MAX_BYTES_PER_HOST,
        timeout_s: float = 60.0,
    ) -> None:
        self.root = state_dir / "evidence"
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.collected_by = f"{getpass.getuser()}@{socket.gethostname()}"

    def collect(
        self, transport: Transport, host: HostSpec, findings: list[Finding]
    ) -> list[Finding]:
        """Copy the files failed findings name; return the findings with custody noted."""
        wanted: list[tuple[str, str]] = []
        for finding in findings:
            if finding.status is not FindingStatus.FAIL:
                continue
            for item in finding.evidence:
                if _is_path(item, host.platform) and (finding.check, item) not in wanted:
                    wanted.append((finding.check, item))
        if not wanted:
            return findings
        records: dict[str, EvidenceRecord | str] = {}
        budget = self.max_bytes
        for check, path in wanted[: self.max_files]:
            if budget <= 0:
                records[path] = "not copied: evidence budget for this host exhausted"
                continue
            try:
                record = self._collect_one(transport, host, check, path, budget)
            except TransportError as exc:
                records[path] = f"not copied: {exc}"
                continue
            budget -= record.size
            records[path] = record
        return [*findings, self._summary(host, records)]

    def _summary(self, host: HostSpec, records: dict[str, EvidenceRecord | str]) -> Finding:
        """One finding listing what was copied ('path sha256:...'), so reports show custody."""
        copied = [r for r in records.values() if isinstance(r, EvidenceRecord)]
        missed = [f"{p} ({r})" for p, r in records.items() if isinstance(r, str)]
        where = self.root / _safe(host.name)
        detail = f"{len(copied)} file(s) copied to {where}, custody in custody.jsonl"
        if missed:
            detail += f"; {len(missed)} not copied"
        items = [
            f"{r.remote_path} sha256:{r.remote_sha256 or r.sha256}"
            + (f" (first {r.size} bytes copied)" if r.truncated else "")
            for r in copied
        ]
        return Finding(
            check="evidence",
            status=FindingStatus.PASS if not missed else FindingStatus.WARN,
            detail=detail,
            evidence=tuple(items + missed),
            severity=Severity.INFO,
        )

    def _collect_one(
        self, transport: Transport, host: HostSpec, check: str, path: str, budget: int
    ) -> EvidenceRecord:
        remote_sha, remote_size = self._remote_hash(transport, host, path)
        directory = self.root / _safe(host.name)
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
            tmp_path = Path(tmp.name)
        try:
            size = transport.get(path, tmp_path, min(self.max_file_bytes, budget), self.timeout_s)
            digest = hashlib.sha256(tmp_path.read_bytes()).hexdigest()
            stored = directory / digest
            tmp_path.replace(stored)
        finally:
            tmp_path.unlink(missing_ok=True)
        stored.chmod(0o400)
        record = EvidenceRecord(
            host=host.name,
            address=host.address,
            remote_path=path,
            remote_sha256=remote_sha,
            remote_size=remote_size,
            sha256=digest,
            size=size,
            truncated=remote_size is not None and size < remote_size,
            stored_as=str(stored),
            collected_at=datetime.now(UTC).isoformat(timespec="seconds"),
            collected_by=self.collected_by,
            check=check,
        )
        with (directory / "custody.jsonl").open("a", encoding="utf-8") as custody:
            custody.write(json.dumps(asdict(record), sort_keys=True) + "\n")
        return record

    def _remote_hash(
        self, transport: Transport, host: HostSpec, path: str
    ) -> tuple[str | None, int | None]:
        """The host's own hash of the whole file, so that a truncated copy stays tied to it."""
        if host.platform is Platform.WINDOWS:
            file_hash = getattr(transport, "file_hash", None)
            return (file_hash(path, self.timeout_s) if file_hash else None), None
        q = shlex.quote(path)
        out = transport.run(f"stat -c %s -- {q} && sha256sum -- {q}", timeout=self.timeout_s)
        rows = out.stdout.split()
        if out.rc != 0 or len(rows) < 2 or not rows[0].isdigit():
            return None, None
        return rows[1].lstrip("\\"), int(rows[0])


def read_custody(state_dir: Path, host: str) -> list[dict[str, object]]:
    path = state_dir / "evidence" / _safe(host) / "custody.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _is_path(item: str, platform: Platform) -> bool:
    if platform is Platform.WINDOWS:
        return len(item) > 2 and item[1] == ":" and item[2] == "\\"
    return item.startswith("/") and ":" not in item and " " not in item


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
