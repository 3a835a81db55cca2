"""The lab's Windows endpoint through real WinRM clients (pywinrm, pypsrp) and raw sockets.

One module-scoped lab with one Windows host in the strict (stock-Windows) default: NTLM with
message encryption over HTTP, NTLM or Basic over HTTPS; and a hostile client's view of it
(idle TLS connections, huge or lying bodies, markup in a MessageID, PSRP, CredSSP).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import requests
import winrm
import yaml

from restore.inputs.inventory import load_inventory
from restore.integrity.checks import windows_facts
from restore.integrity.checks.catalog import Context
from restore.integrity.checks.indicators import load_indicators
from restore.lab import Lab
from restore.lab.windows import lab_password
from restore.models import Platform
from restore.transports.winrm import WinrmTransport

pytestmark = pytest.mark.lab

FIFTY_MB = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    state = tmp_path_factory.mktemp("wsman")
    the_lab = Lab(state)
    try:
        the_lab.up([("wsm", Platform.WINDOWS)])
        yield the_lab
    finally:
        Lab(state).down()


def _session(lab: Lab, scheme: str, transport: str, **kwargs: object) -> winrm.Session:
    host = lab.host("wsm")
    port = 5986 if scheme == "https" else 5985
    return winrm.Session(
        f"{scheme}://{host.management}:{port}/wsman",
        auth=("Administrator", lab_password(lab)),
        transport=transport,
        server_cert_validation="validate",
        ca_trust_path=str(lab.dir / "ca.pem"),
        **kwargs,
    )


def _raw(lab: Lab, port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send `request` on a fresh connection (TLS on 5986) and return what comes back first."""
    host = lab.host("wsm").management
    sock = socket.create_connection((host, port), timeout=timeout)
    if port == 5986:
        context = ssl.create_default_context(cafile=str(lab.dir / "ca.pem"))
        sock = context.wrap_socket(sock, server_hostname=host)
    with sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _shells(lab: Lab) -> int:
    return int(lab.run_on("wsm", "cat /run/restore-wsman/shells 2>/dev/null || echo 0").strip())


def _server_pid(lab: Lab) -> int:
    """The endpoint's process, seen from the control side (it runs chrooted in the host)."""
    merged = str(lab.dir / "hosts" / "wsm" / "merged")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            root = os.readlink(entry / "root")
        except OSError:
            continue
        if root == merged and b"serve" in cmdline and any(b"server.py" in a for a in cmdline):
            return int(entry.name)
    raise AssertionError("the WS-Man endpoint process was not found")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_ntlm_over_http_encrypts_and_over_https_works(lab: Lab) -> None:
    http = _session(lab, "http", "ntlm")
    result = http.run_ps("hostname")
    assert (result.status_code, result.std_out) == (0, b"wsm\r\n")
    assert http.protocol.transport.encryption is not None  # every message was sealed
    https = _session(lab, "https", "ntlm")
    assert https.run_cmd("whoami").std_out.strip() == b"wsm\\administrator"
    assert https.protocol.transport.encryption is None  # TLS protects it instead
    assert _session(lab, "https", "basic").run_cmd("hostname").status_code == 0
    sealed_over_tls = _session(lab, "https", "ntlm", message_encryption="always")
    assert sealed_over_tls.run_ps("hostname").std_out == b"wsm\r\n"


def test_stock_windows_refusals(lab: Lab) -> None:
    """Basic over HTTP, unencrypted HTTP, a wrong NTLM password, CredSSP and Kerberos."""
    with pytest.raises(winrm.exceptions.InvalidCredentialsError):
        _session(lab, "http", "plaintext").run_cmd("hostname")
    offers = _raw(lab, 5985, b"POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert offers.startswith(b"HTTP/1.1 401")
    assert b"WWW-Authenticate: Negotiate" in offers and b"Basic" not in offers
    with pytest.raises(winrm.exceptions.WinRMError, match="Unencrypted traffic is refused"):
        _session(lab, "http", "ntlm", message_encryption="never").run_cmd("hostname")
    wrong = winrm.Session(
        f"http://{lab.host('wsm').management}:5985/wsman",
        auth=("Administrator", "not-the-password"),
        transport="ntlm",
    )
    with pytest.raises(winrm.exceptions.InvalidCredentialsError):
        wrong.run_cmd("hostname")
    for scheme, reason in (("CredSSP", b"CredSSP is not supported"), ("Kerberos", b"Kerberos")):
        answer = requests.post(
            f"https://{lab.host('wsm').management}:5986/wsman",
            headers={"Authorization": f"{scheme} TlRMTVNTUAAB", "Content-Length": "0"},
            verify=str(lab.dir / "ca.pem"),
            timeout=10,
        )
        assert answer.status_code == 401 and reason in answer.content


def test_product_transport_speaks_ntlm_as_the_lab_inventory_says(lab: Lab, tmp_path: Path) -> None:
    """restore's own WinRM transport, from the lab inventory, over HTTPS and over HTTP."""
    spec = load_inventory(lab.inventory_file, with_secrets=True).host("wsm")
    assert spec.var("ansible_winrm_transport") == "ntlm"
    transport = WinrmTransport(spec)
    try:
        assert transport.run("hostname", timeout=30).stdout == "wsm\r\n"
    finally:
        transport.close()
    data = yaml.safe_load(lab.inventory_file.read_text())
    host_vars = data["all"]["children"]["lab_windows"]["hosts"]["wsm"]
    host_vars.update(ansible_winrm_scheme="http", ansible_port=5985)
    inventory = tmp_path / "http.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"wsm": host_vars}}}))
    plain = WinrmTransport(load_inventory(inventory, with_secrets=True).host("wsm"))
    try:
        result = plain.run("Get-Service WinRM | ConvertTo-Json", timeout=30)
        assert result.rc == 0 and json.loads(result.stdout)[0]["Name"] == "WinRM"
    finally:
        plain.close()


def test_an_idle_tcp_connection_does_not_freeze_https(lab: Lab) -> None:
    """Connections that never start TLS wait in their own threads; pywinrm is served."""
    idle = [
        socket.create_connection((lab.host("wsm").management, 5986), timeout=5) for _ in range(3)
    ]
    try:
        session = _session(lab, "https", "ntlm", read_timeout_sec=6, operation_timeout_sec=4)
        assert session.run_cmd("hostname").std_out.strip() == b"wsm"
    finally:
        for sock in idle:
            sock.close()


def test_bodies_refused_before_they_are_read_with_memory_flat(lab: Lab) -> None:
    pid = _server_pid(lab)
    before = _rss_kib(pid)
    header = "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{}\r\n"
    # the answer comes back before a single body byte is sent: nothing was read or kept
    for port in (5985, 5986):
        assert _raw(lab, port, header.format(FIFTY_MB, "").encode()).startswith(b"HTTP/1.1 413")
        assert _raw(lab, port, header.format(-1, "").encode()).startswith(b"HTTP/1.1 400")
        assert _raw(lab, port, header.format("1e9", "").encode()).startswith(b"HTTP/1.1 400")
        assert _raw(lab, port, header.format(400_000, "").encode()).startswith(b"HTTP/1.1 401")
    # eight clients that push 50 MB each anyway are cut off, and the endpoint stays small
    host = lab.host("wsm").management
    for _ in range(8):
        with socket.create_connection((host, 5985), timeout=10) as sock:
            sock.sendall(header.format(FIFTY_MB, "Authorization: Basic eDp5\r\n").encode())
            sent = 0
            with pytest.raises(OSError):
                while sent < FIFTY_MB:
                    sent += sock.send(b"\0" * 1_048_576)
            assert sent < FIFTY_MB // 2
    assert _rss_kib(pid) - before < 8 * 1024
    assert _session(lab, "https", "ntlm").run_cmd("hostname").status_code == 0


def _envelope(message_id: str, action: str, body: str = "") -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>'
        f"<a:Action>{action}</a:Action><a:MessageID>{message_id}</a:MessageID>"
        "<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def test_hostile_input_gets_well_formed_faults_without_python_text(lab: Lab) -> None:
    url = f"https://{lab.host('wsm').management}:5986/wsman"
    auth = ("Administrator", lab_password(lab))
    hostile = 'uuid:&lt;/a:RelatesTo&gt;&lt;x a="&amp;\'"/&gt;]]&gt;'  # <, >, &, quotes once parsed
    cases = [
        _envelope(hostile, "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"),
        _envelope(hostile, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"),
        b"<not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    ]
    for payload in cases:
        answer = requests.post(
            url,
            data=payload,
            auth=auth,
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
            verify=str(lab.dir / "ca.pem"),
            timeout=10,
        )
        assert answer.status_code == 500
        root = ET.fromstring(answer.content)  # well-formed, whatever came in
        assert root.find(".//{http://schemas.microsoft.com/wbem/wsman/1/wsmanfault}WSManFault")
        assert b"Traceback" not in answer.content and b"Error:" not in answer.content
        if payload.startswith(b"<s:Envelope"):
            relates = root.findtext(
                ".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}RelatesTo"
            )
            assert relates == ET.fromstring(payload).findtext(".//{*}MessageID")
    session = _session(lab, "https", "ntlm")
    services = session.run_ps("Get-Service | ConvertTo-Json")  # once 'list index out of range'
    assert services.status_code == 0 and len(json.loads(services.std_out)) >= 4
    unknown = session.run_ps("exit nope")
    assert unknown.status_code == 1 and b"does not understand" in unknown.std_err


def test_the_host_answers_only_powershell_that_parses(lab: Lab) -> None:
    """A syntax error gets PowerShell's ParserError and exit 1, never an answer by marker."""
    session = _session(lab, "https", "ntlm")
    broken = session.run_ps("Get-Service WinRM |")  # a pipe to nothing
    assert broken.status_code == 1 and broken.std_out == b""
    # run_ps decoded the CLIXML error stream, as it does for a real host
    assert broken.std_err.startswith(b"At line:1 char:19"), broken.std_err
    assert b"An empty pipe element is not allowed." in broken.std_err
    assert b"ParserError" in broken.std_err and b"FullyQualifiedErrorId" in broken.std_err
    # a catalog marker does not buy an answer for a body that does not parse
    marked = session.run_ps("# restore:defender\nGet-MpComputerStatus | ConvertTo-Json }")
    assert marked.status_code == 1 and b"Unexpected token '}'" in marked.std_err
    assert b"AntivirusEnabled" not in marked.std_out
    # an error right after a bare-word list is found; the list itself is valid PowerShell
    listed = session.run_ps("Get-Service WinRM,EventLog | Select-Object Name, Status )")
    assert listed.status_code == 1 and b"At line:1 char:57" in listed.std_err
    valid = session.run_ps("Get-Service WinRM,EventLog | ConvertTo-Json")
    assert valid.status_code == 0, valid.std_err
    assert [s["Name"] for s in json.loads(valid.std_out)] == ["WinRM", "EventLog"]
    # a plain command in a shell is parsed too, and its error is plain text
    plain = session.run_cmd("Write-Output (1")
    assert plain.status_code == 1 and plain.std_err.startswith(b"At line:1 char:")
    assert b"Missing closing ')' in expression." in plain.std_err
    # on the wire, powershell -EncodedCommand's error stream is CLIXML, as powershell.exe's
    protocol = session.protocol
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "powershell -encodedcommand " + _encoded("{"))
        _out, err, rc = protocol.get_command_output(shell, command)
        protocol.cleanup_command(shell, command)
    finally:
        protocol.close_shell(shell)
    assert rc == 1 and err.startswith(b"#< CLIXML\r\n<Objs ")
    ET.fromstring(err.split(b"\r\n", 1)[1])  # well-formed


def _encoded(script: str) -> str:
    import base64

    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def test_every_catalog_query_still_answers_through_pywinrm(lab: Lab) -> None:
    session = _session(lab, "https", "ntlm")
    ctx = Context(indicators=load_indicators(), platform=Platform.WINDOWS)
    answered = []
    for fact in windows_facts.FACTS:
        result = session.run_ps(fact.command(ctx))
        assert result.status_code == 0, (fact.name, result.std_err)
        json.loads(result.std_out)  # the query's JSON answer, not an error text
        answered.append(fact.name)
    assert len(answered) == len(windows_facts.FACTS) >= 9


def test_psrp_is_refused_at_create_and_leaves_no_shell(lab: Lab) -> None:
    from pypsrp.client import Client
    from pypsrp.exceptions import WSManFaultError

    session = _session(lab, "https", "ntlm")
    shell = session.protocol.open_shell()
    assert _shells(lab) == 1
    session.protocol.close_shell(shell)
    assert _shells(lab) == 0
    client = Client(
        lab.host("wsm").management,
        username="Administrator",
        password=lab_password(lab),
        ssl=True,
        cert_validation=str(lab.dir / "ca.pem"),
        auth="negotiate",
        operation_timeout=5,
        connection_timeout=10,
    )
    with pytest.raises(WSManFaultError, match=r"PowerShell remoting .* is not supported"):
        client.execute_ps("hostname")
    assert _shells(lab) == 0
    stdout, _stderr, rc = client.execute_cmd("hostname")  # pypsrp's WinRS path works
    assert (stdout.strip(), rc) == ("wsm", 0)
    assert _shells(lab) == 0


def test_lenient_lab_accepts_basic_over_http(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = [sys.executable, "-m", "restore", "lab", "up", "--windows", "1", "--winrm-lenient"]
    result = subprocess.run([*up, "--state-dir", str(state)], capture_output=True, text=True)
    try:
        assert result.returncode == 0, result.stderr
        lenient = Lab(state)
        session = winrm.Session(
            f"http://{lenient.host('win01').management}:5985/wsman",
            auth=("Administrator", lab_password(lenient)),
            transport="plaintext",
        )
        assert session.run_cmd("hostname").std_out.strip() == b"win01"
    finally:
        Lab(state).down()


def _ansible(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    ansible = str(Path(sys.executable).parent / "ansible")
    command = [ansible, "-i", str(lab.inventory_file), "wsm", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_ansible_winrm_raw_runs_and_what_it_cannot(lab: Lab) -> None:
    """Ansible's winrm connection with the lab inventory (NTLM over HTTPS), and over HTTP."""
    https = _ansible(lab, "-m", "raw", "-a", "hostname")
    assert https.returncode == 0 and "wsm" in https.stdout, https.stdout + https.stderr
    http = _ansible(
        lab, "-m", "raw", "-a", "hostname", "-e", "ansible_winrm_scheme=http ansible_port=5985"
    )
    assert http.returncode == 0 and "wsm" in http.stdout, http.stdout + http.stderr
    module = _ansible(lab, "-m", "ansible.windows.win_ping")  # modules need real PowerShell
    assert module.returncode != 0 and "does not understand" in module.stdout
    psrp_vars = f"ansible_connection=psrp ansible_psrp_ca_cert={lab.dir / 'ca.pem'}"
    psrp = _ansible(lab, "-m", "raw", "-a", "hostname", "-e", psrp_vars)
    assert psrp.returncode != 0 and "PowerShell remoting" in psrp.stdout
