#!/usr/bin/python3
"""WS-Management endpoint of a lab Windows host: HTTP(S), authentication, message encryption.

Standard library only, plus the pyspnego package that the control side copies next to this
script (vendor/; Debian bookworm packages none): it runs chrooted in a lab host under the
rootfs's python3, whose python3-cryptography does NTLM's RC4 sealing.

Like a stock Windows host (winrm/config/service: AllowUnencrypted=false; here Basic is allowed
over HTTPS, as Ansible's usual Windows setup does), unless the lab was started lenient:
- HTTPS (5986): NTLM (with or without message encryption) or Basic;
- HTTP (5985): NTLM with WinRM message encryption (MS-WSMV 2.2.9.1.1, multipart/encrypted,
  "application/HTTP-SPNEGO-session-encrypted") only: Basic is refused (only Negotiate is
  offered), and an unencrypted envelope gets an AccessDenied fault;
- CredSSP and Kerberos are refused with a clear reason.

Hardened against a client that is not a WinRM client: the TLS handshake and every connection
run in their own thread with socket timeouts (one silent TCP connection freezes nobody); the
Content-Length is checked (digits, at most MAX_REQUEST bytes, WS-Man's MaxEnvelopeSize plus
the encryption framing) and authentication is decided before the body is read; an
unauthenticated body is never kept in memory; concurrent connections are capped.

Usage: server.py serve CONFIG   (reset/infect: see personality.py)
"""

import base64
import binascii
import hashlib
import hmac
import http.server
import json
import os
import re
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "vendor"))

import personality  # noqa: E402
import soap  # noqa: E402

try:
    import spnego  # noqa: E402
except ImportError:  # without it the host speaks Basic over HTTPS only (logged at start)
    spnego = None

DENY_FLAG = "/opt/restore-wsman/deny-auth"
# Windows' default MaxEnvelopeSizekb is 500; pywinrm and pypsrp ask for 150 KiB envelopes.
MAX_ENVELOPE = 500 * 1024
MAX_REQUEST = MAX_ENVELOPE + 4096  # room for the multipart/encrypted framing
HANDSHAKE_TIMEOUT = 10.0  # TLS handshake, then the first request's headers
PRE_AUTH_TIMEOUT = 30.0  # an unauthenticated connection between reads
IDLE_TIMEOUT = 3600.0  # an authenticated keep-alive connection (NTLM binds to it)
MAX_CONNECTIONS = 128  # per listening socket
BACKLOG = 256  # parallel runs open many connections at once
DRAIN_LIMIT = MAX_REQUEST  # bytes read and dropped before closing a refused connection
BOUNDARY = b"--Encrypted Boundary"
SPNEGO_ENCRYPTED = b"application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_CONTENT_TYPE = (
    'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % SPNEGO_ENCRYPTED.decode()
)


class Refused(Exception):
    """An HTTP-level refusal: status, a reason (sent as a WS-Man fault), extra headers."""

    def __init__(self, status, reason, headers=None, close=True):
        Exception.__init__(self, reason)
        self.status, self.reason, self.headers, self.close = status, reason, headers or {}, close


def unwrap_encrypted(context, body):
    """The SOAP envelope inside a multipart/encrypted body (one part), or ValueError."""
    parts = body.split(BOUNDARY + b"\r\n", 2)
    end = BOUNDARY + b"--\r\n"
    if len(parts) != 3 or parts[0] or not parts[2].endswith(end):
        raise ValueError("not a multipart/encrypted WinRM body")
    header, payload = parts[1], parts[2][: -len(end)]
    length = re.search(rb"Length=(\d{1,9})", header)
    if SPNEGO_ENCRYPTED.lower() not in header.lower() or length is None:
        raise ValueError("not an SPNEGO-encrypted part")
    first_line, sep, stream = payload.partition(b"\r\n")
    if not sep or b"application/octet-stream" not in first_line:
        raise ValueError("no octet-stream part")
    if len(stream) < 4:
        raise ValueError("truncated stream")
    signature_length = struct.unpack("<I", stream[:4])[0]
    if signature_length > 256 or 4 + signature_length > len(stream):
        raise ValueError("bad signature length")
    plain = context.unwrap_winrm(stream[4 : 4 + signature_length], stream[4 + signature_length :])
    if len(plain) != int(length.group(1)):
        raise ValueError("length mismatch")
    return plain


def wrap_encrypted(context, plain):
    wrapped = context.wrap_winrm(plain)
    return (
        BOUNDARY + b"\r\n\tContent-Type: " + SPNEGO_ENCRYPTED + b"\r\n"
        b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
        + str(len(plain)).encode()
        + b"\r\n"
        + BOUNDARY
        + b"\r\n\tContent-Type: application/octet-stream\r\n"
        + struct.pack("<I", len(wrapped.header))
        + wrapped.header
        + wrapped.data
        + BOUNDARY
        + b"--\r\n"
    )


def _is_initial_token(token):
    """An NTLM NEGOTIATE message or an SPNEGO NegTokenInit: a handshake starts afresh."""
    return token[:12] == b"NTLMSSP\x00\x01\x00\x00\x00" or token[:1] == b"\x60"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def log_message(self, *args):
        pass

    def setup(self):
        http.server.BaseHTTPRequestHandler.setup(self)
        self.connection.settimeout(PRE_AUTH_TIMEOUT)
        self.ntlm = None  # this connection's NTLM/SPNEGO context (NTLM binds to the connection)
        self.ntlm_user = None  # set once that handshake completed

    # -- replies ---------------------------------------------------------------------------

    def _send(self, status, data, content_type, headers=None, close=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            for one in value if isinstance(value, list) else [value]:
                self.send_header(key, one)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _offers(self):
        """WWW-Authenticate as a stock Windows host sends it (Basic only where allowed)."""
        offers = ["Negotiate"] if spnego is not None else []
        if self.server.tls is not None or self.server.config.get("lenient"):
            offers.append('Basic realm="WSMAN"')
        return offers

    def _refuse(self, refused, unread):
        headers = dict(refused.headers)
        if refused.status == 401 and "WWW-Authenticate" not in headers:
            headers["WWW-Authenticate"] = self._offers()
        fault = soap.Fault("AccessDenied", refused.reason, 5)
        data = soap.fault_envelope("", fault).encode()
        self._send(
            refused.status, data, "application/soap+xml;charset=UTF-8", headers, refused.close
        )
        if unread and refused.close:
            self._linger(unread)
        elif unread:
            self._discard(unread)

    def _linger(self, unread):
        """Drop what the client is still sending (bounded) so it reads our answer, not a reset."""
        deadline = time.monotonic() + 2.0
        try:
            self.connection.settimeout(0.5)
            left = min(unread, DRAIN_LIMIT)
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except (OSError, ValueError):
            pass

    def _discard(self, length):
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                raise Refused(400, "The request body ended early.")
            length -= len(chunk)

    # -- the request ---------------------------------------------------------------------------

    def _content_length(self):
        if self.headers.get("Transfer-Encoding"):
            raise Refused(411, "Chunked requests are not accepted: send a Content-Length.")
        values = self.headers.get_all("Content-Length") or ["0"]
        if len(values) != 1 or not re.fullmatch(r"\d{1,12}", values[0].strip()):
            raise Refused(400, "The Content-Length is missing or not a number.")
        length = int(values[0])
        if length > MAX_REQUEST:
            raise Refused(
                413, "The request is larger than MaxEnvelopeSize (%d bytes)." % MAX_ENVELOPE
            )
        return length

    def _basic(self, token):
        config = self.server.config
        if self.server.tls is None and not config.get("lenient"):
            raise Refused(
                401,
                "Basic authentication over HTTP is refused (as on a stock Windows host): use HTTPS, or NTLM with message encryption.",
            )
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Refused(401, "Malformed Basic credentials.") from None
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), bytes.fromhex(config["salt"]), 100000
        ).hex()
        if not (
            user.lower() == config["user"].lower()
            and hmac.compare_digest(digest, config["password_pbkdf2"])
        ):
            raise Refused(401, "The credentials were rejected.")
        return user

    def _negotiate(self, scheme, token):
        """One NTLM/SPNEGO leg: (user, final token) once complete, or a challenge (Refused 401)."""
        if spnego is None:
            raise Refused(401, "NTLM is not available on this lab host (pyspnego missing).")
        try:
            raw = base64.b64decode(token, validate=True)
        except binascii.Error:
            raise Refused(401, "Malformed %s token." % scheme) from None
        if self.ntlm is None or self.ntlm_user is not None or _is_initial_token(raw):
            self.ntlm, self.ntlm_user = spnego.server(protocol="negotiate"), None
        try:
            out = self.ntlm.step(raw)
        except Exception:  # bad password, unknown user, Kerberos-only SPNEGO...
            self.ntlm = None
            raise Refused(401, "The credentials were rejected (NTLM).") from None
        if not self.ntlm.complete:
            challenge = "%s %s" % (scheme, base64.b64encode(out or b"").decode())
            raise Refused(401, "NTLM challenge.", {"WWW-Authenticate": challenge}, close=False)
        self.ntlm_user = str(self.ntlm.client_principal or "")
        return out

    def _authenticate(self):
        """Who is asking, decided from the headers alone; returns a final token to send back."""
        scheme, _, token = self.headers.get("Authorization", "").strip().partition(" ")
        kind = scheme.lower()
        if os.path.exists(DENY_FLAG):  # `lab fault --deny-auth`: as for a disabled account,
            if kind in ("negotiate", "ntlm") and token.strip():  # NTLM fails at its last leg
                self._negotiate(scheme, token.strip())
            self.ntlm = self.ntlm_user = None
            raise Refused(401, "Access is denied.")
        if kind == "basic":
            self._basic(token.strip())
            return None
        if kind in ("negotiate", "ntlm") and token.strip():
            return self._negotiate(scheme, token.strip())
        if kind == "credssp":
            raise Refused(
                401,
                "CredSSP is not supported by the lab host: use NTLM (with message encryption over HTTP) or Basic over HTTPS.",
            )
        if kind == "kerberos":
            raise Refused(401, "Kerberos is not supported by the lab host (future work): use NTLM.")
        if kind:
            raise Refused(401, "Unsupported authentication scheme.")
        if self.ntlm_user is None:
            raise Refused(401, "Authentication required.")
        return None  # a later request on a connection NTLM authenticated

    def do_POST(self):
        unread = 0
        try:
            if self.path.split("?", 1)[0].rstrip("/").lower() != "/wsman":
                raise Refused(404, "Only /wsman is served here.")
            unread = self._content_length()
            try:
                final_token = self._authenticate()
            except Refused as refused:
                if refused.close:
                    raise
                self._discard(unread)  # a handshake leg's body (bounded): keep the connection
                unread = 0
                raise
            self.connection.settimeout(IDLE_TIMEOUT)
            body = self.rfile.read(unread) if unread else b""
            if len(body) != unread:
                raise Refused(400, "The request body ended early.")
            unread = 0
            self._answer(body, final_token)
        except Refused as refused:
            self._refuse(refused, unread)

    def _answer(self, body, final_token):
        headers = {}
        if final_token:
            headers["WWW-Authenticate"] = "Negotiate " + base64.b64encode(final_token).decode()
        content_type = self.headers.get("Content-Type", "").lower()
        encrypted = content_type.startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))
        if encrypted:
            if self.ntlm is None or self.ntlm_user is None:
                raise Refused(401, "An encrypted message needs an NTLM-authenticated connection.")
            if SPNEGO_ENCRYPTED.decode().lower() not in content_type:
                raise Refused(400, "Only application/HTTP-SPNEGO-session-encrypted is supported.")
            try:
                body = unwrap_encrypted(self.ntlm, body)
            except Exception:
                raise Refused(400, "The encrypted message could not be decrypted.") from None
        elif body and self.server.tls is None and not self.server.config.get("lenient"):
            raise Refused(
                500,
                "Unencrypted traffic is refused by this host (AllowUnencrypted=false, as on a stock Windows host): use NTLM with message encryption over HTTP, or HTTPS.",
                headers,
                close=False,
            )
        if not body:  # the blank message a client sends to set up the security context
            self._send(200, b"", "application/soap+xml;charset=UTF-8", headers)
            return
        if len(body) > MAX_ENVELOPE:
            raise Refused(
                413, "The envelope is larger than MaxEnvelopeSize (%d bytes)." % MAX_ENVELOPE
            )
        status, answer = soap.handle_soap(body)
        data = answer.encode()
        if encrypted:
            self._send(status, wrap_encrypted(self.ntlm, data), ENCRYPTED_CONTENT_TYPE, headers)
        else:
            self._send(status, data, "application/soap+xml;charset=UTF-8", headers)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """One listening socket; TLS is set up in each connection's own thread, with a timeout."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = BACKLOG

    def __init__(self, address, config, tls):
        self.config, self.tls = config, tls
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        http.server.HTTPServer.__init__(self, address, Handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):  # full: refuse rather than queue forever
            self.shutdown_request(request)
            return
        try:
            socketserver.ThreadingMixIn.process_request(self, request, client_address)
        except Exception:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            socketserver.ThreadingMixIn.process_request_thread(self, request, client_address)
        finally:
            self.slots.release()

    def finish_request(self, request, client_address):
        request.settimeout(HANDSHAKE_TIMEOUT)
        if self.tls is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        try:
            secure = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # silent, slow or not TLS at all: this thread alone gave up on it
        try:
            self.RequestHandlerClass(secure, client_address, self)
        finally:
            try:
                secure.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # a client that vanished or timed out is not worth a traceback in the log


def serve(config_path):
    with open(config_path) as handle:
        config = json.load(handle)
    if config.get("ntlm_user_file"):
        os.environ["NTLM_USER_FILE"] = config["ntlm_user_file"]
    if spnego is None:
        print("restore-wsman: pyspnego not found: NTLM is unavailable", file=sys.stderr)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config["cert"], config["key"])
    servers = []
    for address in config["addresses"]:
        servers.append(Server((address, config["http_port"]), config, None))
        servers.append(Server((address, config["https_port"]), config, context))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "reset":
        personality.reset(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "infect":
        personality.infect(sys.argv[2])
    else:
        raise SystemExit(__doc__)
