"""WinRM through pywinrm, certificates validated unless the operator opts out on the CLI.

Settings follow Ansible's own WinRM variables, so one inventory drives both Ansible and
``restore``: ``ansible_winrm_scheme`` (https by default), ``ansible_port``,
``ansible_winrm_path``, ``ansible_winrm_transport`` (basic, ntlm, kerberos...),
``ansible_winrm_message_encryption``, ``ansible_winrm_ca_trust_path``,
``ansible_winrm_operation_timeout_sec`` and ``ansible_winrm_read_timeout_sec``.
``ansible_winrm_server_cert_validation: ignore`` in an inventory is deliberately NOT
honoured: skipping validation is a decision for the person at the keyboard
(``--winrm-insecure``), not for a file an attacker may have edited.

Each command's deadline is hard: before every WS-Man request the HTTP read timeout and the
WS-Man OperationTimeout are cut down to the time left, so a hung endpoint costs at most the
deadline (plus a second), never pywinrm's silent infinite Receive retry.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
import requests.adapters

from restore.models import CommandOutput, HostSpec
from restore.transports.base import (
    DEFAULT_COMMAND_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    TransportError,
)
from restore.transports.bounded import (
    DEFAULT_MAX_STDERR_BYTES,
    DEFAULT_MAX_STDOUT_BYTES,
    Capped,
)
from restore.transports.clixml import decode_error_stream

# One WS-Man answer (we ask for 150 KB envelopes, as pywinrm does; a real endpoint obeys).
MAX_RESPONSE_BYTES = 4 << 20

_TRANSPORTS = {"basic", "ntlm", "kerberos", "credssp", "certificate", "plaintext", "ssl"}


def encode_powershell(script: str) -> str:
    """The command line pywinrm's run_ps sends: powershell -encodedcommand <UTF-16LE b64>."""
    encoded = base64.b64encode(script.encode("utf-16-le")).decode("ascii")
    return f"powershell -encodedcommand {encoded}"


def winrm_settings(host: HostSpec, insecure: bool = False) -> dict[str, Any]:
    """Keyword arguments for winrm.protocol.Protocol, secrets excluded (safe to log)."""
    scheme = str(host.var("ansible_winrm_scheme", "https")).lower()
    path = str(host.var("ansible_winrm_path", "/wsman"))
    transport = host.var("ansible_winrm_transport", "ntlm")
    if isinstance(transport, list):  # Ansible accepts a list; use the first we support
        transport = next((t for t in transport if str(t) in _TRANSPORTS), "ntlm")
    transport = str(transport).split(",")[0].strip().lower()
    if scheme == "http" and transport == "basic":
        transport = "plaintext"  # pywinrm's name for basic auth over http
    settings: dict[str, Any] = {
        "endpoint": f"{scheme}://{host.address}:{host.port}{path}",
        "transport": transport,
        "username": host.user,
        "server_cert_validation": "ignore" if insecure else "validate",
        "proxy": None,  # never through a proxy: the endpoint is the host itself
    }
    # NTLM over HTTP encrypts each message (pywinrm's "auto"), as a stock Windows host demands
    encryption = str(host.var("ansible_winrm_message_encryption", "auto")).lower()
    if encryption in ("auto", "always", "never"):
        settings["message_encryption"] = encryption
    ca = host.var("ansible_winrm_ca_trust_path")
    if ca:
        settings["ca_trust_path"] = str(Path(str(ca)).expanduser())
    return settings


class ResponseTooLarge(Exception):
    """The endpoint sent an answer larger than MAX_RESPONSE_BYTES."""


class WinrmTransport:
    max_stdout_bytes = DEFAULT_MAX_STDOUT_BYTES

    def __init__(self, host: HostSpec, insecure: bool = False) -> None:
        self.host = host.name
        self._spec = host
        self._insecure = insecure
        self._protocol: Any = None
        self._shell: str | None = None

    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT_S) -> None:
        if self._shell is not None:
            return
        from winrm.protocol import Protocol

        spec = self._spec
        password = (
            spec.secret("ansible_password")
            or spec.secret("ansible_winrm_password")
            or spec.secret("ansible_pass")
        )
        settings = winrm_settings(spec, self._insecure)
        op = int(spec.var("ansible_winrm_operation_timeout_sec", 20))
        read = int(spec.var("ansible_winrm_read_timeout_sec", op + 10))
        try:
            self._protocol = Protocol(
                password=password,
                operation_timeout_sec=op,
                read_timeout_sec=max(read, op + 1),
                **settings,
            )
            self._bound(timeout)
            _cap_responses(self._protocol.transport, MAX_RESPONSE_BYTES)
            self._shell = self._protocol.open_shell(codepage=65001)
        except Exception as exc:  # requests/pywinrm raise many types: all mean "unreachable"
            self._protocol = None
            raise TransportError(
                f"{spec.name}: winrm {settings['endpoint']}: {_reason(exc)}"
            ) from None

    def _bound(self, remaining: float) -> None:
        """Cut this request's timeouts to the time left (pywinrm requires read > operation)."""
        proto = self._protocol
        read = max(2, int(remaining) + 1)
        proto.operation_timeout_sec = max(1, min(int(proto.operation_timeout_sec), read - 1))
        proto.read_timeout_sec = read
        proto.transport.read_timeout_sec = read

    def run(
        self,
        command: str,
        timeout: float = DEFAULT_COMMAND_TIMEOUT_S,
        max_stdout_bytes: int | None = None,
        *,
        drain: bool = False,
    ) -> CommandOutput:
        """Run a PowerShell script (encoded as pywinrm's run_ps does).

        Output is read Receive by Receive, each answer bounded (MAX_RESPONSE_BYTES) and the
        whole bounded by ``max_stdout_bytes``: pywinrm's run_ps would keep it all in memory.
        """
        from winrm.exceptions import WinRMOperationTimeoutError

        started = time.monotonic()
        deadline = started + timeout
        self.connect(timeout)
        proto = self._protocol
        out = Capped(max_stdout_bytes or self.max_stdout_bytes, keep_tail=drain)
        err = Capped(DEFAULT_MAX_STDERR_BYTES, keep_tail=drain)
        rc = -1
        command_id = None
        done = cut = False
        try:
            self._bound(deadline - time.monotonic())
            command_id = proto.run_command(self._shell, encode_powershell(command))
            while not done and not cut:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._bound(remaining)
                try:
                    stdout, stderr, rc, done = proto.get_command_output_raw(self._shell, command_id)
                except WinRMOperationTimeoutError:
                    continue  # no output yet: ask again while the deadline allows
                cut = not (out.feed(stdout) and err.feed(stderr))
        except ResponseTooLarge:
            cut = True
        except Exception as exc:
            if time.monotonic() < deadline:
                self.close()
                raise TransportError(f"{self.host}: winrm: {_reason(exc)}") from None
            done = False  # the read timed out at the deadline: a timeout, not a dead host
        timed_out = not done and not cut
        self._end_command(command_id, cut, timed_out)
        return CommandOutput(
            rc=-1 if timed_out or cut else rc,
            stdout=out.text(),
            stderr=decode_error_stream(err.text()),
            duration_s=time.monotonic() - started,
            timed_out=timed_out,
            truncated=cut or out.truncated or err.truncated,
        )

    def _end_command(self, command_id: str | None, cut: bool, timed_out: bool) -> None:
        if cut:  # the shell is mid-answer: drop it, a fresh one serves the next command
            self.close()
        elif command_id is not None:
            try:
                self._bound(2)
                self._protocol.cleanup_command(self._shell, command_id)
            except Exception:
                if timed_out:  # the endpoint is stuck; start afresh next time
                    self.close()

    def get(self, remote: str, local: Path, max_bytes: int, timeout: float) -> int:
        # One file, never its folder: walking a tree would bring all of it into memory.
        # The answer is base64 in JSON, so its cap follows from max_bytes.
        data = self._file_query("file-content", remote, max_bytes, timeout)
        if data is None or not isinstance(data.get("Base64"), str):
            raise TransportError(f"{self.host}: cannot read {remote}")
        try:
            content = base64.b64decode(data["Base64"])[:max_bytes]
        except ValueError:
            raise TransportError(f"{self.host}: {remote}: the answer is not base64") from None
        local.write_bytes(content)
        return len(content)

    def _file_query(
        self, query: str, path: str, max_bytes: int, timeout: float
    ) -> dict[str, Any] | None:
        """Run a file query of the catalog (docs/windows-queries.md) on one file, or None."""
        args = json.dumps({"paths": [path], "max_bytes": int(max_bytes)}, separators=(",", ":"))
        script = (
            f"# restore:{query}\n# args: {args}\n"
            f"$a = {_ps_string(args)} | ConvertFrom-Json\n"
            "$ErrorActionPreference = 'Stop'\n"
            "ConvertTo-Json -Compress -InputObject @(foreach ($p in $a.paths) { "
            "Get-Item -LiteralPath $p -Force | Where-Object { -not $_.PSIsContainer } "
            "| ForEach-Object { "
            + (_READ_CONTENT if query == "file-content" else _READ_HASH)
            + " } })\n"
        )
        cap = min(max_bytes, 1 << 40) * 4 // 3 + (64 << 10)
        result = self.run(script, timeout, max_stdout_bytes=cap)
        if result.rc != 0 or result.timed_out or result.truncated:
            return None
        try:
            items = json.loads(result.stdout or "[]")
        except ValueError:
            return None
        items = items if isinstance(items, list) else [items]
        for item in items:
            if isinstance(item, dict) and str(item.get("Path", "")).lower() == path.lower():
                return item
        return None

    def file_hash(self, remote: str, timeout: float) -> str | None:
        """The host's own sha256 of a whole file (evidence custody), or None."""
        item = self._file_query("file-hash", remote, 1 << 62, timeout)
        digest = str(item.get("Hash") or "") if item else ""
        return digest.lower() if len(digest) == 64 else None

    def put(self, local: Path, remote: str, timeout: float) -> None:
        encoded = base64.b64encode(local.read_bytes()).decode("ascii")
        script = (
            "# restore:write_file\n"
            f"$path = {_ps_string(remote)}\n"
            f"[IO.File]::WriteAllBytes($path, [Convert]::FromBase64String('{encoded}'))\n"
        )
        result = self.run(script, timeout)
        if result.rc != 0:
            raise TransportError(f"{self.host}: cannot write {remote}: rc {result.rc}")

    def close(self) -> None:
        proto, shell = self._protocol, self._shell
        self._shell = None
        if proto is not None and shell is not None:
            try:
                self._bound(2)
                proto.close_shell(shell)
            except Exception:  # closing is best effort: the host may be gone
                pass


_READ_CONTENT = (
    "$f = [IO.File]::OpenRead($_.FullName); "
    "$buf = New-Object byte[] ([Math]::Min($a.max_bytes, $_.Length)); "
    "$n = $f.Read($buf, 0, $buf.Length); $f.Close(); "
    "[pscustomobject]@{Path=$_.FullName; Base64=[Convert]::ToBase64String($buf, 0, $n)}"
)
_READ_HASH = (
    "[pscustomobject]@{Path=$_.FullName; "
    "Hash=(Get-FileHash -LiteralPath $_.FullName -Algorithm SHA256).Hash}"
)


def _ps_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _cap_responses(transport: Any, limit: int) -> None:
    """Make every HTTP answer pywinrm reads pass through a counting reader, refused past
    ``limit`` bytes while it is read.

    pywinrm reads ``response.content`` whole; an endpoint under an attacker's control could
    send gigabytes in one answer. Only public interfaces are used: requests' adapter hook
    ``HTTPAdapter.build_response`` on the session that pywinrm's ``build_session()`` makes,
    mounted before the session's first request. With message encryption (NTLM over HTTP)
    ``build_session()`` sends a handshake itself, through ``setup_encryption(session)``:
    the adapter is mounted there first, so that answer is bounded too. Authentication, TLS
    validation and encryption stay pywinrm's and requests' own.
    """
    setup_encryption = transport.setup_encryption

    def mount_then_setup(session: requests.Session) -> None:
        _mount_capped(session, limit)
        setup_encryption(session)

    transport.setup_encryption = mount_then_setup
    _mount_capped(transport.build_session(), limit)


def _mount_capped(session: requests.Session, limit: int) -> None:
    if not isinstance(session.get_adapter("https://"), _CappedAdapter):
        session.mount("https://", _CappedAdapter(limit))
        session.mount("http://", _CappedAdapter(limit))


class _CappedAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        response.raw = _CappedBody(resp, self.limit)
        return response


class _CappedBody:
    """The urllib3 body, counted as it is read (decoded: a compressed bomb counts in full)."""

    def __init__(self, raw: Any, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self._seen = 0

    def stream(self, amt: int = 1 << 16, decode_content: bool | None = None) -> Iterator[bytes]:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            yield self._count(chunk)

    def read(self, amt: int | None = None, decode_content: bool | None = None) -> bytes:
        if amt is not None:
            return self._count(self._raw.read(amt, decode_content=decode_content))
        return b"".join(self.stream(decode_content=decode_content))

    def _count(self, chunk: bytes) -> bytes:
        self._seen += len(chunk)
        if self._seen > self._limit:
            self._raw.close()  # stop reading: the rest is never drained
            raise ResponseTooLarge(f"an answer of more than {self._limit} bytes")
        return chunk

    def __getattr__(self, name: str) -> Any:  # release_conn, close, headers...: urllib3's
        return getattr(self._raw, name)
