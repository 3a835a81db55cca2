"""Windows lab hosts, control side: certificates, install and boot of the WS-Man endpoint.

A Windows lab host runs `wsman/server.py` (standard library, plus the control side's pyspnego
copied next to it for NTLM, and its tree_sitter with the product's PowerShell syntax checker,
twin_parser.py, so that the host answers only PowerShell that parses) chrooted in its
namespaces, on HTTP 5985 and HTTPS 5986 of both its addresses. Its certificate is issued by
a per-lab CA whose path goes into the inventory (`ansible_winrm_ca_trust_path`), so clients
validate TLS exactly as they would against a real domain controller. Like a stock Windows host
it refuses Basic and unencrypted traffic over HTTP unless the lab was started with
`--winrm-lenient`; the inventory names NTLM over HTTPS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from restore.errors import InputError
from restore.lab import twin_files
from restore.lab.twin_parser import install_powershell_parser

if TYPE_CHECKING:
    from restore.lab.lab import Lab, LabHost

HTTP_PORT = 5985
HTTPS_PORT = 5986
WSMAN_DIR = Path(__file__).parent / "wsman"
SERVER_SOURCES = ("server.py", "soap.py", "personality.py", "windows_state.py", "parse_gate.py")
INSTALL_DIR = "opt/restore-wsman"
USER = "Administrator"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    twin_files.write_file(path, pem, 0o600)


def ensure_ca(lab_dir: Path) -> tuple[Path, Path]:
    """The lab's own CA (one per lab), created once."""
    cert_path, key_path = lab_dir / "ca.pem", lab_dir / "ca.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "restore lab CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def issue_server_cert(lab_dir: Path, name: str, addresses: list[str], target: Path) -> None:
    """A server certificate for `name` and its addresses, signed by the lab CA."""
    ca_cert_path, ca_key_path = ensure_ca(lab_dir)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(name)]
    alt_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    twin_files.make_dirs(target)
    _write_key(target / "server.key", key)
    twin_files.write_file(target / "server.pem", cert.public_bytes(serialization.Encoding.PEM))


def lab_password(lab: Lab) -> str:
    """The lab's WinRM password, generated once and kept with mode 0600 in the lab dir."""
    path = lab.dir / "winrm_password"
    if not path.exists():
        twin_files.write_file(path, secrets.token_urlsafe(18), 0o600)
    return path.read_text().strip()


def boot_commands(lab: Lab, host: LabHost, upper: Path, fresh: bool) -> tuple[str, int]:
    """Install the endpoint into a fresh host root; return its boot lines and a port to wait on."""
    install = upper / INSTALL_DIR
    if fresh:
        twin_files.make_dirs(install)  # /opt and its folder, readable as on a stock host
        for source in SERVER_SOURCES:
            twin_files.write_file(install / source, (WSMAN_DIR / source).read_bytes())
        _install_spnego(install / "vendor")
        assert lab.rootfs is not None  # Windows hosts boot from the lab's golden image
        install_powershell_parser(lab.rootfs, install)
        issue_server_cert(lab.dir, host.name, [host.management, host.production], install)
        salt = secrets.token_bytes(16)
        digest = hashlib.pbkdf2_hmac("sha256", lab_password(lab).encode(), salt, 100000)
        users = ntlm_user_lines(host.name, lab_password(lab))
        twin_files.write_file(install / "ntlm_users", users, 0o600)
        config = {
            "addresses": [host.management, host.production],
            "http_port": HTTP_PORT,
            "https_port": HTTPS_PORT,
            "cert": f"/{INSTALL_DIR}/server.pem",
            "key": f"/{INSTALL_DIR}/server.key",
            "user": USER,
            "salt": salt.hex(),
            "password_pbkdf2": digest.hex(),
            "ntlm_user_file": f"/{INSTALL_DIR}/ntlm_users",
            "lenient": lab.winrm_lenient,
        }
        twin_files.write_file(install / "config.json", json.dumps(config), 0o600)
    daemons = (
        f'[ -f "$R/windows/state.json" ] || chroot "$R" /usr/bin/python3 /{INSTALL_DIR}/server.py '
        f"reset {host.name}\n"
        f'chroot "$R" /usr/bin/python3 -B /{INSTALL_DIR}/server.py '
        f"serve /{INSTALL_DIR}/config.json "
        '>>"$R/var/log/restore-wsman.log" 2>&1 &'
    )
    return daemons, HTTPS_PORT


def _install_spnego(target: Path) -> None:
    """Copy the control side's pyspnego (pure Python) into the host: bookworm packages none."""
    import spnego

    source = Path(spnego.__file__).parent
    twin_files.make_dirs(target)  # copytree gives the copied folders their source's modes
    shutil.copytree(
        source, target / "spnego", ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
    )


def ntlm_user_lines(hostname: str, password: str) -> str:
    """The endpoint's NTLM credential store (smbpasswd format): the NT hash, not the password.

    Lines for `Administrator` and `HOSTNAME\\Administrator`, the names a client may give.
    """
    from spnego._ntlm_raw.crypto import ntowfv1  # MD4, which OpenSSL 3 no longer offers

    nt_hash = ntowfv1(password).hex().upper()
    empty_lm = "AAD3B435B51404EEAAD3B435B51404EE"
    names = (USER, f"{hostname.split('.')[0].upper()}\\{USER}")
    return "".join(f"{name}:500:{empty_lm}:{nt_hash}:[U]:LCT-00000000\n" for name in names)


def inventory_vars(lab: Lab, host: LabHost) -> dict[str, Any]:
    """Ansible's WinRM variables: NTLM over HTTPS, what hospitals use (docs/lab-windows.md)."""
    return {
        "ansible_connection": "winrm",
        "ansible_port": HTTPS_PORT,
        "ansible_winrm_scheme": "https",
        "ansible_winrm_transport": "ntlm",
        "ansible_user": USER,
        "ansible_password": lab_password(lab),
        "ansible_winrm_ca_trust_path": str(ensure_ca(lab.dir)[0]),
        "ansible_winrm_server_cert_validation": "validate",
        "restore_platform": "windows",
    }


def set_auth(lab: Lab, host: LabHost, allow: bool) -> None:
    flag = f"/{INSTALL_DIR}/deny-auth"
    lab._inside(host, f"rm -f {flag}" if allow else f"touch {flag}")


def infect(lab: Lab, host: LabHost, scenario: str) -> None:
    from restore.lab.wsman.windows_state import WINDOWS_SCENARIOS

    if scenario not in WINDOWS_SCENARIOS:
        from restore.inputs.graph import did_you_mean

        raise InputError(
            f"unknown Windows scenario '{scenario}'",
            hint=did_you_mean(scenario, WINDOWS_SCENARIOS)
            or f"one of {', '.join(WINDOWS_SCENARIOS)}",
        )
    lab._inside(host, f"/usr/bin/python3 /{INSTALL_DIR}/server.py infect {scenario}")


def ssh_less_marker(name: str) -> str:
    return f"(no SSH host key: {name} is a Windows lab host)"
