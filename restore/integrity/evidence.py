"""The evidence store: suspicious files copied off a host, hashed, with a custody record.

Layout under the state dir: ``evidence/<host>/<sha256>`` holds each copy (named by its own
hash, so a file seen twice is stored once) and ``evidence/<host>/custody.jsonl`` one line per
collection: who, when, from which host and address, the remote path, the sha256 of the whole
file as the host computed it, and the sha256 and size of the copy (a copy is bounded in size:
a truncated copy says so). Files on the host are only read, never deleted or moved: they are
evidence until the host is reimaged, and investigators may want them in place.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import json
import socket
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from restore.integrity.remote_names import (
    assign_bytes,
    assign_text,
    has_shown_bytes,
    shown_as_bytes,
)
from restore.models import Finding, FindingStatus, HostSpec, Platform, Severity
from restore.transports import Transport, TransportError

MAX_FILE_BYTES = 1 << 20
MAX_FILES_PER_HOST = 50
MAX_BYTES_PER_HOST = 64 << 20
# All the copies of one host together: 50 files x 2 reads x the per-read timeout would
# outlast any step deadline, so the host's whole collection has a deadline of its own.
HOST_DEADLINE_S = 180.0
PROBE_TIMEOUT_S = 20.0


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
    link_target: str | None = None  # the path was a symlink: what it points to
    cap_bytes: int | None = None  # the most this copy was allowed to hold
    truncation: str | None = None  # why the copy is not the whole file, when it is not
    # the remote name's exact bytes, in hex: remote_path shows a non-UTF-8 byte as \xNN, which
    # a name could also hold as text; this field is what was copied, without ambiguity
    remote_path_hex: str | None = None


class EvidenceStore:
    def __init__(
        self,
        state_dir: Path,
        *,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_files: int = MAX_FILES_PER_HOST,
        max_bytes: int = MAX_BYTES_PER_HOST,
        timeout_s: float = 60.0,
        host_deadline_s: float = HOST_DEADLINE_S,
    ) -> None:
        self.root = state_dir / "evidence"
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.host_deadline_s = host_deadline_s
        self.collected_by = f"{getpass.getuser()}@{socket.gethostname()}"

    def collect(
        self, transport: Transport, host: HostSpec, findings: list[Finding]
    ) -> list[Finding]:
        """Copy the files failed findings name; return the findings with custody noted."""
        # one copy per path, credited to the first finding that names it: a ransom note is
        # also a file changed since the incident, and copying it twice costs time and budget
        wanted: dict[str, str] = {}  # path -> check
        for finding in findings:
            if finding.status is not FindingStatus.FAIL:
                continue
            for item in finding.evidence:
                if _is_path(item, host.platform):
                    wanted.setdefault(item, finding.check)
        if not wanted:
            return findings
        records: dict[str, EvidenceRecord | str] = {}
        budget = self.max_bytes
        deadline = time.monotonic() + self.host_deadline_s
        for path, check in list(wanted.items())[: self.max_files]:
            left = deadline - time.monotonic()
            if budget <= 0:
                records[path] = "not copied: evidence budget for this host exhausted"
                continue
            if left < 1:
                records[path] = "not copied: the evidence deadline for this host passed"
                continue
            try:
                record = self._collect_one(transport, host, check, path, budget, left)
            except TransportError as exc:
                records[path] = f"not copied: {exc}"
                continue
            budget -= record.size
            records[path] = record
        # the summary stays last: callers read the custody line from there
        return [*findings, *_truncations(records), self._summary(host, records)]

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
            + (f" (a symlink to {r.link_target})" if r.link_target is not None else "")
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
        self,
        transport: Transport,
        host: HostSpec,
        check: str,
        path: str,
        budget: int,
        left: float,
    ) -> EvidenceRecord:
        probe_timeout = min(PROBE_TIMEOUT_S, self.timeout_s, left)
        raw, probe = self._probe_named(transport, host, path, probe_timeout)
        if probe.special:
            raise TransportError(f"{probe.special}: special files are never opened")
        directory = self.root / _safe(host.name)
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
            tmp_path = Path(tmp.name)
        limit = min(self.max_file_bytes, budget)
        try:
            read_timeout = max(1.0, min(self.timeout_s, left))
            if raw is None:
                size = transport.get(path, tmp_path, limit, read_timeout)
            else:
                size = _get_by_bytes(transport, raw, tmp_path, limit, read_timeout)
            # the transport caps what it writes; a host sending more must not get past here
            size = min(size, tmp_path.stat().st_size)
            digest = _sha256_file(tmp_path)
            stored = directory / digest
            tmp_path.replace(stored)
        finally:
            tmp_path.unlink(missing_ok=True)
        stored.chmod(0o400)
        truncation = _truncation(size, limit, probe.size)
        record = EvidenceRecord(
            host=host.name,
            address=host.address,
            remote_path=path,
            remote_sha256=probe.sha256,
            remote_size=probe.size,
            sha256=digest,
            size=size,
            truncated=truncation is not None,
            stored_as=str(stored),
            collected_at=datetime.now(UTC).isoformat(timespec="seconds"),
            collected_by=self.collected_by,
            check=check,
            link_target=probe.link_target,
            cap_bytes=limit,
            truncation=truncation,
            remote_path_hex=(raw or path.encode("utf-8", "backslashreplace")).hex(),
        )
        with (directory / "custody.jsonl").open("a", encoding="utf-8") as custody:
            custody.write(json.dumps(asdict(record), sort_keys=True) + "\n")
        return record

    def _probe_named(
        self, transport: Transport, host: HostSpec, path: str, timeout: float
    ) -> tuple[bytes | None, _Probe]:
        """Probe the path as shown; also returns the name's bytes when it is not UTF-8 and must
        be rebuilt on the host (None when the name is taken as text)."""
        if host.platform is Platform.LINUX and has_shown_bytes(path):
            raw = shown_as_bytes(path)
            probe = self._probe(transport, host, assign_bytes(raw), timeout)
            if probe != _Probe():  # else nothing by that byte name: the name holds "\x" as text
                return raw, probe
        named = assign_text(path) if host.platform is Platform.LINUX else path
        return None, self._probe(transport, host, named, timeout)

    def _probe(self, transport: Transport, host: HostSpec, assign: str, timeout: float) -> _Probe:
        """What the path is, before anything opens it: the host's own hash of a whole regular
        file (so a truncated copy stays tied to it), a symlink's target, a special file.
        ``assign`` is shell code setting ``p`` (on Windows, the path itself)."""
        if host.platform is Platform.WINDOWS:
            file_hash = getattr(transport, "file_hash", None)
            return _Probe(sha256=file_hash(assign, timeout) if file_hash else None)
        out = transport.run(PROBE_CMD.format(assign=assign), timeout=timeout)
        return parse_probe(out.stdout) if out.rc == 0 and not out.truncated else _Probe()


# Tests the type before reading (a FIFO would block, a device would never end); the
# reading itself opens only a regular file. NUL-separated, since a target may hold anything.
PROBE_CMD = (
    "{assign}; "
    'if [ -L "$p" ]; then printf \'L\\0%s\\0\' "$(readlink -- "$p")"; fi; '
    'if [ -f "$p" ]; then printf \'F\\0%s\\0\' "$(stat -L -c %s -- "$p")"; '
    'sha256sum < "$p"; '
    'elif [ -e "$p" ]; then printf \'S\\0%s\\0\' "$(stat -L -c %F -- "$p")"; fi'
)


@dataclass(frozen=True)
class _Probe:
    sha256: str | None = None
    size: int | None = None
    link_target: str | None = None
    special: str | None = None


def parse_probe(text: str) -> _Probe:
    fields = text.split("\0")
    link = size = sha = special = None
    i = 0
    while i + 1 < len(fields):
        tag, value = fields[i], fields[i + 1]
        if tag == "L":
            link = value
        elif tag == "F" and value.isdigit():
            size = int(value)
            digest = fields[i + 2].split()[0] if i + 2 < len(fields) and fields[i + 2] else ""
            sha = digest if len(digest) == 64 else None
            break
        elif tag == "S":
            special = value.strip() or "special file"
            break
        i += 2
    return _Probe(sha256=sha, size=size, link_target=link, special=special)


# A name that is not UTF-8 cannot be sent as one: it is rebuilt on the host (``assign_bytes``)
# and the file comes back as base64 through the transport's capped, deadlined ``run``.
GET_BY_BYTES_CMD = (
    "{assign}; "
    "[ -f \"$p\" ] || {{ echo 'not a regular file' >&2; exit 3; }}; "
    'head -c {limit} -- "$p" | base64 -w 0'
)


def _get_by_bytes(transport: Transport, raw: bytes, local: Path, limit: int, timeout: float) -> int:
    """Copy a file named by bytes; at most ``limit`` bytes reach the disk, whatever is sent."""
    out = transport.run(GET_BY_BYTES_CMD.format(assign=assign_bytes(raw), limit=limit), timeout)
    if out.rc != 0 and not out.truncated:
        reason = "timed out" if out.timed_out else out.stderr.strip()[:200]
        raise TransportError(f"cannot read {raw!r}: {reason}")
    text = "".join(out.stdout.split())
    try:  # a cut answer keeps its whole 4-character groups
        data = base64.b64decode(text[: len(text) // 4 * 4], validate=True)
    except binascii.Error as exc:
        raise TransportError(f"cannot read {raw!r}: the host sent no base64 ({exc})") from None
    local.write_bytes(data[:limit])
    return min(len(data), limit)


def _truncation(size: int, cap: int, remote_size: int | None) -> str | None:
    """Why a copy is not the whole file, or None when it is (as far as the host tells)."""
    if remote_size is None:
        return (
            f"cut at the per-file cap of {cap} bytes (file of unknown size)"
            if size >= cap
            else None
        )
    if size > remote_size:
        return f"the host sent more than the {remote_size} bytes it says the file holds"
    if size < remote_size:
        if size >= cap:
            return f"cut at the per-file cap of {cap} bytes (file of {remote_size} bytes)"
        return f"the host sent {size} of the {remote_size} bytes it says the file holds"
    return None


def _truncations(records: dict[str, EvidenceRecord | str]) -> list[Finding]:
    """A partial copy is a finding of its own: the custody record must not pass for whole."""
    cut = [r for r in records.values() if isinstance(r, EvidenceRecord) and r.truncation]
    if not cut:
        return []
    return [
        Finding(
            check="evidence_truncated",
            status=FindingStatus.FAIL,
            detail=f"{len(cut)} evidence cop{'y is' if len(cut) == 1 else 'ies are'} partial: "
            "the stored file is not the whole remote file",
            evidence=tuple(
                f"{r.remote_path}: copied {r.size} bytes, remote size "
                f"{'unknown' if r.remote_size is None else r.remote_size}, {r.truncation}"
                for r in cut
            ),
            severity=Severity.DRIFT,
        )
    ]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            digest.update(chunk)
    return digest.hexdigest()


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
