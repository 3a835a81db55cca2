"""Transport settings and deadlines that can be proven without a remote host.

The SSH and WinRM transports against real endpoints (host key verification, certificate
validation, hangs) are covered by tests/integration/test_check_lab.py and
test_transport_lab.py.
"""

from __future__ import annotations

import time
from pathlib import Path

from restore.models import Credential, HostSpec, Platform
from restore.transports import make_transport
from restore.transports.local import LocalTransport
from restore.transports.ssh import SshTransport, known_hosts_files, ssh_options
from restore.transports.winrm import WinrmTransport, encode_powershell, winrm_settings


def host(platform: Platform = Platform.LINUX, **vars: object) -> HostSpec:
    return HostSpec(
        "h1",
        platform,
        "127.0.11.5",
        5986 if vars else 22,
        "root",
        Credential("none"),
        connection_vars=tuple(sorted(vars.items())),
    )


def test_local_run_is_data_and_has_a_hard_deadline(tmp_path: Path) -> None:
    t = LocalTransport()
    result = t.run("echo out; echo err >&2; exit 3", timeout=10)
    assert (result.rc, result.stdout, result.stderr, result.timed_out) == (
        3,
        "out\n",
        "err\n",
        False,
    )
    started = time.monotonic()
    hung = t.run("sleep 30 & sleep 30", timeout=0.5)
    assert hung.timed_out and time.monotonic() - started < 5
    src = tmp_path / "big"
    src.write_bytes(b"x" * 1000)
    assert t.get(str(src), tmp_path / "copy", 100, 5) == 100


def test_known_hosts_come_from_the_inventory(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    spec = host(ansible_ssh_common_args=f"-o UserKnownHostsFile={kh} -o StrictHostKeyChecking=no")
    assert ssh_options(spec)["stricthostkeychecking"] == ["no"]  # read, and never obeyed
    assert known_hosts_files(spec)[0] == kh
    assert isinstance(make_transport(spec), SshTransport)


def test_winrm_validates_certificates_unless_the_operator_opts_out() -> None:
    spec = host(
        Platform.WINDOWS,
        ansible_connection="winrm",
        ansible_winrm_transport="basic",
        ansible_winrm_ca_trust_path="/lab/ca.pem",
        ansible_winrm_server_cert_validation="ignore",  # an inventory cannot turn it off
    )
    settings = winrm_settings(spec)
    assert settings["server_cert_validation"] == "validate"
    assert settings["endpoint"] == "https://127.0.11.5:5986/wsman"
    assert settings["ca_trust_path"] == "/lab/ca.pem" and settings["proxy"] is None
    assert winrm_settings(spec, insecure=True)["server_cert_validation"] == "ignore"
    assert settings["message_encryption"] == "auto"  # NTLM over HTTP: encrypted, as Windows needs
    assert isinstance(make_transport(spec), WinrmTransport)
    assert encode_powershell("# restore:x").startswith("powershell -encodedcommand ")
