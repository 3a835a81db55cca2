"""The built-in lab as a user and the other parts of restore see it (DESIGN §7)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import paramiko
import pytest
import requests
import winrm
import yaml

from restore.lab import Lab
from restore.lab.windows import lab_password

pytestmark = pytest.mark.lab


def port_open(address: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def ssh(lab: Lab, name: str, command: str, known_hosts: Path | None = None) -> str:
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts or lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            lab.host(name).management,
            username="root",
            key_filename=str(lab.key_file),
            timeout=5,
            banner_timeout=5,
            auth_timeout=5,
            look_for_keys=False,
            allow_agent=False,
        )
        _, out, _ = client.exec_command(command, timeout=10)
        return out.read().decode()
    finally:
        client.close()


def test_inventory_contract(lab: Lab) -> None:
    data = yaml.safe_load(lab.inventory_file.read_text())
    children = data["all"]["children"]
    alpha = children["lab_linux"]["hosts"]["alpha"]
    assert alpha["ansible_host"].startswith("127.0.11.")
    assert alpha["restore_production_address"].startswith("127.0.10.")
    assert alpha["restore_lab"] == str(lab.state_dir)
    assert "StrictHostKeyChecking=yes" in alpha["ansible_ssh_common_args"]
    gamma = children["lab_windows"]["hosts"]["gamma"]
    for key in (
        "ansible_connection",
        "ansible_port",
        "ansible_winrm_scheme",
        "ansible_winrm_transport",
        "ansible_user",
        "ansible_password",
        "ansible_winrm_ca_trust_path",
    ):
        assert key in gamma


def test_ansible_ping_with_verified_host_keys(lab: Lab) -> None:
    result = subprocess.run(
        ["ansible", "-i", str(lab.inventory_file), "lab_linux", "-m", "ping"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "PATH": str(Path(__import__("sys").executable).parent) + ":/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count('"ping": "pong"') == 2


def test_wrong_host_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    alpha, beta = lab.host("alpha"), lab.host("beta")
    beta_key = next(
        line
        for line in lab.known_hosts.read_text().splitlines()
        if line.startswith(beta.management)
    )
    forged = tmp_path / "known_hosts"
    forged.write_text(
        f"{alpha.management} {' '.join(beta_key.split()[1:])}\n"
    )  # beta's key for alpha
    with pytest.raises(paramiko.BadHostKeyException):
        ssh(lab, "alpha", "true", known_hosts=forged)
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        ssh(lab, "alpha", "true", known_hosts=empty)


def test_hosts_do_not_see_each_other(fresh_lab: Lab) -> None:
    ssh(fresh_lab, "alpha", "echo secret > /srv/data/alpha-only")
    assert "alpha-only" in ssh(fresh_lab, "alpha", "ls /srv/data")
    assert "alpha-only" not in ssh(fresh_lab, "beta", "ls /srv/data")
    assert ssh(fresh_lab, "alpha", "hostname").strip() == "alpha"
    assert (
        "sshd"
        not in ssh(fresh_lab, "alpha", "ps -e -o comm= | sort -u").split().count("bash") * "x"
    )  # PID ns has few processes
    assert int(ssh(fresh_lab, "alpha", "ps -e --no-headers | wc -l")) < 20


def test_quarantine_cuts_production_only(fresh_lab: Lab) -> None:
    alpha = fresh_lab.host("alpha")
    assert port_open(alpha.production, 22) and port_open(alpha.production, 8443)
    fresh_lab.quarantine("alpha", True)
    assert not port_open(alpha.production, 22) and not port_open(alpha.production, 8443)
    assert port_open(alpha.management, 22)
    fresh_lab.quarantine("alpha", False)
    assert port_open(alpha.production, 22)


def test_faults(fresh_lab: Lab) -> None:
    beta = fresh_lab.host("beta")
    fresh_lab.fault("beta", "unreachable")
    assert not port_open(beta.management, 22)
    fresh_lab.fault("beta", None)
    assert port_open(beta.management, 22)
    fresh_lab.fault("beta", "hang")
    with socket.create_connection((beta.management, 22), timeout=2) as sock:  # accepted...
        sock.settimeout(2)
        with pytest.raises(TimeoutError):
            sock.recv(64)  # ...but no SSH banner ever comes
    fresh_lab.fault("beta", None)
    assert ssh(fresh_lab, "beta", "echo ok").strip() == "ok"
    fresh_lab.fault("beta", "deny-auth")
    with pytest.raises(paramiko.AuthenticationException):
        ssh(fresh_lab, "beta", "true")
    fresh_lab.fault("beta", None)
    assert ssh(fresh_lab, "beta", "echo ok").strip() == "ok"


def test_reset_gives_new_host_key_through_the_lab(fresh_lab: Lab) -> None:
    before = fresh_lab.known_hosts.read_text()
    ssh(fresh_lab, "alpha", "touch /srv/data/left-by-attacker")
    key = fresh_lab.reset("alpha")
    after = Lab(fresh_lab.state_dir).known_hosts.read_text()
    assert key in after and key not in before
    assert "left-by-attacker" not in ssh(fresh_lab, "alpha", "ls /srv/data")


@pytest.mark.parametrize(
    ("scenario", "probe", "expected"),
    [
        ("ransom-notes", "ls /srv/data", "README_RESTORE_FILES.txt"),
        ("cron-persistence", "cat /etc/cron.d/sysupdate", "/usr/local/bin/sysupdate"),
        ("backdoor-account", "awk -F: '$3==0{print $1}' /etc/passwd", "svc-backup"),
        ("modified-binary", "dpkg --verify coreutils 2>/dev/null", "/bin/ls"),
        ("ld-preload", "cat /etc/ld.so.preload", "libsysupdate.so"),
    ],
)
def test_linux_infections_visible(fresh_lab: Lab, scenario: str, probe: str, expected: str) -> None:
    fresh_lab.infect("alpha", scenario)
    assert expected in ssh(fresh_lab, "alpha", probe)


def _winrm(lab: Lab, scheme: str, **kwargs: object) -> winrm.Session:
    """NTLM, as the lab inventory names it (over HTTP pywinrm encrypts every message)."""
    gamma = lab.host("gamma")
    port = 5986 if scheme == "https" else 5985
    return winrm.Session(
        f"{scheme}://{gamma.management}:{port}/wsman",
        auth=("Administrator", lab_password(lab)),
        transport="ntlm",
        **kwargs,
    )


def test_winrm_http_and_https_with_certificate_validation(fresh_lab: Lab, tmp_path: Path) -> None:
    ca = str(fresh_lab.dir / "ca.pem")
    https = _winrm(fresh_lab, "https", server_cert_validation="validate", ca_trust_path=ca)
    assert https.run_cmd("hostname").std_out.strip() == b"gamma"
    assert b"AntivirusEnabled" in https.run_ps("# restore:defender").std_out
    assert _winrm(fresh_lab, "http").run_cmd("whoami").status_code == 0
    other_ca = tmp_path / "other"
    other_ca.mkdir()
    from restore.lab.windows import ensure_ca

    foreign, _ = ensure_ca(other_ca)
    with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        _winrm(
            fresh_lab, "https", server_cert_validation="validate", ca_trust_path=str(foreign)
        ).run_cmd("hostname")


def test_windows_infections_visible(fresh_lab: Lab) -> None:
    session = _winrm(
        fresh_lab,
        "https",
        server_cert_validation="validate",
        ca_trust_path=str(fresh_lab.dir / "ca.pem"),
    )
    fresh_lab.infect("gamma", "ransomware")
    assert b"svc-backup" in session.run_ps("# restore:local-admins").std_out
    assert b"SysUpdate" in session.run_ps("# restore:scheduled-tasks").std_out
    assert b'"RealTimeProtectionEnabled": false' in session.run_ps("# restore:defender").std_out
    assert b"1102" in session.run_ps('# restore:events\n# args: {"ids": [1102]}').std_out
    assert (
        b"Restore-My-Files.txt"
        in session.run_ps('# restore:files\n# args: {"paths": ["C:\\\\Data"]}').std_out
    )


def test_lab_down_leaves_nothing(tmp_path: Path) -> None:
    from restore.models import Platform

    state = tmp_path / "state"
    the_lab = Lab(state)
    the_lab.up([("solo", Platform.LINUX), ("winsolo", Platform.WINDOWS)])
    lab_id = the_lab.lab_id
    pids = [h.holder_pid for h in the_lab.hosts.values()]
    Lab(state).down()
    time.sleep(0.2)
    assert all(
        not Path(f"/proc/{pid}").exists()
        or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
        for pid in pids
    )
    assert str(state) not in Path("/proc/self/mounts").read_text()
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    assert f"restore_lab_{lab_id}" not in tables


def test_windows_faults(fresh_lab: Lab) -> None:
    gamma = fresh_lab.host("gamma")

    def session() -> winrm.Session:
        return _winrm(
            fresh_lab,
            "https",
            server_cert_validation="validate",
            ca_trust_path=str(fresh_lab.dir / "ca.pem"),
            read_timeout_sec=4,
            operation_timeout_sec=2,
        )

    fresh_lab.fault("gamma", "deny-auth")
    with pytest.raises(winrm.exceptions.InvalidCredentialsError):
        session().run_cmd("hostname")
    fresh_lab.fault("gamma", None)
    assert session().run_cmd("hostname").std_out.strip() == b"gamma"
    fresh_lab.fault("gamma", "hang")
    assert port_open(gamma.management, 5986)  # the kernel still accepts...
    with pytest.raises(requests.exceptions.Timeout):
        session().run_cmd("hostname")  # ...but nothing ever answers
    fresh_lab.fault("gamma", None)
    fresh_lab.fault("gamma", "unreachable")
    assert not port_open(gamma.management, 5986) and not port_open(gamma.production, 5986)
    fresh_lab.fault("gamma", None)
    assert session().run_cmd("hostname").std_out.strip() == b"gamma"
