"""Every HTTP answer pywinrm reads is bounded while read, through public interfaces only.

The cap is a requests adapter mounted on the session pywinrm builds (``build_session``), and
before the NTLM-over-HTTP encryption handshake that ``build_session`` sends itself (through
``setup_encryption``). These tests run real pywinrm and requests against a local endpoint
that floods: if a pywinrm release stops calling those public methods, or reads an answer
some other way, a flood gets through and a test fails.
"""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator

import pytest

from restore.models import Credential, HostSpec, Platform
from restore.transports.base import TransportError
from restore.transports.winrm import MAX_RESPONSE_BYTES, WinrmTransport

FLOOD = 10 * MAX_RESPONSE_BYTES


class Endpoint:
    def __init__(self, body: str) -> None:
        self.body = body  # "plain": an endless body; "gzip": a small body that inflates
        self.sent = 0
        self.requests: list[dict[str, str]] = []


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[Endpoint, int]]:
    state = Endpoint(request.param)
    bomb = gzip.compress(b"\0" * FLOOD)

    class Flood(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Type", "application/soap+xml")
            if state.body == "gzip":
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            try:
                if state.body == "gzip":
                    self.wfile.write(bomb)
                    state.sent += len(bomb)
                    return
                block = b"<a>" + b"x" * 65536 + b"</a>"
                while state.sent < FLOOD:
                    self.wfile.write(block)
                    state.sent += len(block)
            except OSError:  # the client stopped reading: what the cap is for
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flood)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()


def _host(port: int, transport: str) -> HostSpec:
    return HostSpec(
        "w1",
        Platform.WINDOWS,
        "127.0.0.1",
        port,
        "Administrator",
        Credential("password", "ansible_password"),
        connection_vars=(("ansible_winrm_scheme", "http"), ("ansible_winrm_transport", transport)),
        secret_vars=(("ansible_password", "lab"),),
    )


@pytest.mark.parametrize("endpoint", ["plain"], indirect=True)
def test_the_ntlm_encryption_handshake_answer_is_bounded(endpoint: tuple[Endpoint, int]) -> None:
    state, port = endpoint
    with pytest.raises(TransportError, match="more than"):
        WinrmTransport(_host(port, "ntlm")).connect(10)
    # the one request was the handshake (a blank POST), not a WS-Man envelope
    assert [r.get("Content-Length", "0") for r in state.requests] == ["0"]
    assert state.sent < FLOOD  # reading stopped inside the handshake; nothing was drained


@pytest.mark.parametrize("endpoint", ["gzip"], indirect=True)
def test_a_compressed_answer_counts_as_it_inflates(endpoint: tuple[Endpoint, int]) -> None:
    state, port = endpoint
    with pytest.raises(TransportError, match="more than"):
        WinrmTransport(_host(port, "basic")).connect(10)
    assert state.sent < MAX_RESPONSE_BYTES  # a small body on the wire, 40 MiB once inflated
