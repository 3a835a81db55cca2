"""Finding: the node job key ran whatever job it was sent, as root.

`job_access.py` said a stolen job key gives no shell on the node, but the forced command's
`start` ran any job stream it received with `ansible-runner worker` as root: a job is
playbooks and an inventory, i.e. any command. Now the agent runs only jobs signed by the
control node (HMAC under a key `node install` placed on the node), once each.

On a real lab node installed by the real `restore node install`, jobs sent with the job key
alone (as a thief would) are refused before anything runs: unsigned, signed with another key,
altered after signing, replayed. A correctly signed job does start (the lock is not just
shut).
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from restore.ansible.nodes.job_access import job_spec
from restore.ansible.nodes.job_package import write_transmit
from restore.inputs.inventory import load_inventory
from restore.lab import Lab
from restore.models import Platform
from restore.transports.ssh import SshTransport

RESTORE = Path(sys.executable).parent / "restore"
MARKER = "/srv/pwned-by-job-key"
PLAYBOOK = f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: What a thief with the job key would run as root
      ansible.builtin.shell: touch {MARKER}
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("jobkey")
    lab = Lab(base / "lab")
    try:
        inventory = lab.up([("jnode", Platform.LINUX), ("jtarget", Platform.LINUX)])
        data = yaml.safe_load(Path(inventory).read_text())
        data["all"]["children"]["lab_linux"]["hosts"]["jtarget"]["restore_execution_node"] = "jnode"
        sites = base / "sites.yml"
        sites.write_text(yaml.safe_dump(data))
        done = subprocess.run(
            [str(RESTORE), "node", "install", "jnode", "-i", str(sites)],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        hosts = load_inventory(sites, with_secrets=True)
        playbook = base / "project" / "steal.yml"
        playbook.parent.mkdir()
        playbook.write_text(PLAYBOOK)
        # A job stream that runs the marker task on the node itself (localhost of the job).
        local = hosts.host("jnode")
        job = base / "job.transmit"
        write_transmit(
            job,
            ident="x",
            target=local,
            playbook=playbook,
            extravars={},
            check=False,
            vault_password_file=None,
        )
        yield {"hosts": hosts, "job": job}
    finally:
        Lab(base / "lab").down()


def _on_node(setup: dict[str, Any], command: str) -> str:
    transport = SshTransport(setup["hosts"].host("jnode"))
    try:
        return transport.run(command, 30).stdout
    finally:
        transport.close()


def _send_with_job_key(setup: dict[str, Any], ident: str, stream: bytes) -> tuple[int, str]:
    """What a holder of the job key (and nothing else) can do: ssh to the forced command."""
    transport = SshTransport(job_spec(setup["hosts"].host("jnode")))
    try:
        channel = transport.open_stream(f"start {ident}", 30)
        channel.settimeout(60)
        channel.sendall(stream)
        channel.shutdown_write()
        errors = b""
        while not channel.exit_status_ready() or channel.recv_stderr_ready():
            if channel.recv_stderr_ready():
                errors += channel.recv_stderr(4096)
            else:
                time.sleep(0.05)
        return channel.recv_exit_status(), errors.decode("utf-8", "replace")
    finally:
        transport.close()


def _sign(key: bytes, ident: str, body: bytes) -> bytes:
    mac = hmac.new(key, ident.encode() + b"\n" + body, hashlib.sha256).hexdigest()
    return b"restore-job-v1 " + mac.encode() + b"\n"


def _ran(setup: dict[str, Any]) -> bool:
    time.sleep(3)  # a started job would have run its one task by now on an idle node
    return _on_node(setup, f"ls {MARKER} 2>/dev/null || true").strip() == MARKER


def test_jobs_not_signed_by_the_control_node_are_refused(node: dict[str, Any]) -> None:
    body = node["job"].read_bytes()
    forged_key = bytes(32)
    cases = {
        "unsigned": lambda ident: body,
        "forged": lambda ident: _sign(forged_key, ident, body) + body,
        "altered": lambda ident: _sign(_real_key(), ident, body) + body + b"\n",
        "other id": lambda ident: _sign(_real_key(), "another-id", body) + body,
    }
    for name, make in cases.items():
        ident = f"thief-{uuid.uuid4().hex[:8]}"
        status, errors = _send_with_job_key(node, ident, make(ident))
        assert status == 4, (name, status, errors)
        assert "job refused" in errors, (name, errors)
        assert _on_node(node, f"ls /var/lib/restore-node/jobs/{ident} 2>&1 || true").count(
            "No such file"
        ), name
    assert not _ran(node), "a job sent with the job key alone ran as root"


def test_a_signed_job_starts_once_and_its_replay_is_refused(node: dict[str, Any]) -> None:
    from restore.ansible.nodes.job_access import signature_line

    ident = f"signed-{uuid.uuid4().hex[:8]}"
    stream = signature_line(ident, node["job"]) + node["job"].read_bytes()
    status, errors = _send_with_job_key(node, ident, stream)
    assert status == 0, errors
    job = f"/var/lib/restore-node/jobs/{ident}"
    deadline = time.monotonic() + 120
    while _on_node(node, f"cat {job}/exit 2>/dev/null || true").strip() == "":
        assert time.monotonic() < deadline, _on_node(node, f"ls -la {job}; cat {job}/stderr")
        time.sleep(1)
    assert _ran(node), "the signed job ran its task"
    _on_node(node, f"rm -rf {job} {MARKER}")  # as `cleanup` would
    status, errors = _send_with_job_key(node, ident, stream)
    assert status == 4 and "replay" in errors


def _real_key() -> bytes:
    from restore.ansible.nodes.job_access import signing_key_path

    return bytes.fromhex(signing_key_path().read_text().strip())


def _verb_with_job_key(setup: dict[str, Any], command: str) -> tuple[int, bytes, str]:
    transport = SshTransport(job_spec(setup["hosts"].host("jnode")))
    try:
        channel = transport.open_stream(command, 30)
        channel.settimeout(60)
        channel.shutdown_write()
        out, errors = b"", b""
        while (
            not channel.exit_status_ready() or channel.recv_ready() or channel.recv_stderr_ready()
        ):
            if channel.recv_ready():
                out += channel.recv(65536)
            elif channel.recv_stderr_ready():
                errors += channel.recv_stderr(4096)
            else:
                time.sleep(0.05)
        return channel.recv_exit_status(), out, errors.decode("utf-8", "replace")
    finally:
        transport.close()


def test_the_job_key_alone_cannot_read_cancel_or_delete_a_job(node: dict[str, Any]) -> None:
    from restore.ansible.nodes.job_access import request_token, signature_line

    ident = f"kept-{uuid.uuid4().hex[:8]}"
    status, errors = _send_with_job_key(
        node, ident, signature_line(ident, node["job"]) + node["job"].read_bytes()
    )
    assert status == 0, errors
    job = f"/var/lib/restore-node/jobs/{ident}"
    deadline = time.monotonic() + 120
    while _on_node(node, f"cat {job}/exit 2>/dev/null || true").strip() == "":
        assert time.monotonic() < deadline, _on_node(node, f"ls -la {job}; cat {job}/stderr")
        time.sleep(1)
    _on_node(node, f"rm -f {MARKER}")
    forged = "0" * 32 + ":" + "0" * 64
    for verb in (f"attach {ident} 0", f"cancel {ident}", f"cleanup {ident}"):
        for suffix in ("", f" --sig {forged}", f" --sig {request_token('cleanup', 'other')}"):
            status, out, errors = _verb_with_job_key(node, verb + suffix)
            assert (status, out) == (4, b""), (verb, suffix, status, errors)
            assert "request refused" in errors, (verb, suffix, errors)
    assert _on_node(node, f"cat {job}/exit").strip() == "0"  # still there, untouched
    # signed by the control node, each request works, once
    status, out, _ = _verb_with_job_key(
        node, f"attach {ident} 0 --sig {request_token('attach', ident, '0')}"
    )
    assert status == 0 and b'"status": "successful"' in out
    signed = f"cleanup {ident} --sig {request_token('cleanup', ident)}"
    assert _verb_with_job_key(node, signed)[0] == 0
    assert "No such file" in _on_node(node, f"ls {job} 2>&1 || true")
    status, _, errors = _verb_with_job_key(node, signed)
    assert status == 4 and "replay" in errors
