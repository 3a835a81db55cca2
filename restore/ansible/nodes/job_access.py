"""The narrow door jobs use into an execution node, and what it lets through.

Jobs never log in with the inventory's own (administrative) credentials. `restore node
install` places the job agent on the node and authorizes a dedicated key, generated on the
control side, with `restrict,command=`: that key can run the agent's verbs (start, attach,
cancel, cleanup a job) and nothing else - no interactive shell, no forwarding, no pty.

That alone would not make the key harmless: `start` runs `ansible-runner worker` as root on
whatever job stream it is given, and a job is playbooks plus an inventory, i.e. arbitrary
commands as root on the node and on every host the job can reach. So `start` also requires
the control node's signature: `node install` places a random signing key (HMAC-SHA256) on
the node, root-only, beside the agent; the control side signs each job's id and stream with
it (`signature_line`), and the agent refuses (exit 4) an unsigned, forged, altered or
replayed job before anything of it runs.

The other verbs are signed too: `attach`, `cancel` and `cleanup` carry `--sig NONCE:HMAC`,
an HMAC under a key derived from the same signing key, of the verb's arguments and a fresh
nonce (`request_token`); the agent refuses (exit 4) a request without a valid one, and each
nonce once. So the job key alone can do nothing on the node: not start a job, not read a
job's output, not cancel or delete one. Whoever holds the signing key too (root on the control
node, or root on the node) can run anything as root on the node: that is the trust the
control node already has.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
import shlex
import subprocess
from pathlib import Path

from restore.errors import OperationalError
from restore.models import HostSpec
from restore.transports.base import TransportError
from restore.transports.ssh import SshTransport

AGENT_SOURCE = (Path(__file__).parent / "agent.py").read_bytes()
AGENT_DIGEST = hashlib.sha256(AGENT_SOURCE).hexdigest()
AGENT_PATH = "/opt/restore-node/agent.py"
KEY_COMMENT = "restore-node-jobs"
FORCED_COMMAND = f"python3 {AGENT_PATH} --forced"
NODE_SIGNING_KEY = "/etc/restore-node/job-signing.key"  # agent.SIGNING_KEY
SIGNATURE_PREFIX = b"restore-job-v1 "  # agent.SIGNATURE_PREFIX
TIMEOUT_S = 60.0


def job_key_path() -> Path:
    return Path(os.environ.get("RESTORE_NODE_JOB_KEY", "/var/lib/restore/node-job-key"))


def ensure_job_key() -> Path:
    """The control side's job key (ed25519, 0600), made once."""
    key = job_key_path()
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        made = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", KEY_COMMENT, "-f", str(key)],
            capture_output=True,
            text=True,
            check=False,
        )
        if made.returncode != 0:
            raise OperationalError(f"cannot create the node job key {key}: {made.stderr.strip()}")
    key.chmod(0o600)
    return key


def signing_key_path() -> Path:
    return job_key_path().with_name(job_key_path().name + ".signing")


def ensure_signing_key() -> bytes:
    """The control side's job signing key (32 random bytes, hex, 0600), made once."""
    path = signing_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path.read_text().strip().encode()


def signature_line(ident: str, transmitted: Path) -> bytes:
    """The first line of a job's stream: the agent runs the job only if it matches."""
    key = bytes.fromhex(signing_key_path().read_text().strip())
    mac = hmac.new(key, ident.encode() + b"\n", hashlib.sha256)
    with transmitted.open("rb") as source:
        while chunk := source.read(64 * 1024):
            mac.update(chunk)
    return SIGNATURE_PREFIX + mac.hexdigest().encode() + b"\n"


REQUEST_KEY_LABEL = b"restore-node requests v1"  # agent.REQUEST_KEY_LABEL


def request_token(*args: str) -> str:
    """`NONCE:HMAC` for one attach, cancel or cleanup request (its verb and arguments)."""
    key = bytes.fromhex(signing_key_path().read_text().strip())
    nonce = secrets.token_hex(16)
    request_key = hmac.new(key, REQUEST_KEY_LABEL, hashlib.sha256).digest()
    message = "\n".join([*args, nonce]).encode()
    return f"{nonce}:{hmac.new(request_key, message, hashlib.sha256).hexdigest()}"


def authorized_line(public_key: str) -> str:
    kind, blob = public_key.split()[:2]
    return f'restrict,command="{FORCED_COMMAND}" {kind} {blob} {KEY_COMMENT}'


def grant(transport: SshTransport) -> None:
    """Place the agent and authorize the job key for it alone (idempotent)."""
    key = ensure_job_key()
    line = authorized_line(key.with_suffix(".pub").read_text())
    agent = shlex.quote(AGENT_PATH)
    place = (
        f"if [ \"$(sha256sum {agent} 2>/dev/null | cut -d' ' -f1)\" = {AGENT_DIGEST} ]; then "
        f"cat >/dev/null; else mkdir -p /opt/restore-node && cat > {agent}.$$ && "
        f"chmod 0755 {agent}.$$ && mv -f {agent}.$$ {agent}; fi"
    )
    _run(transport, place, AGENT_SOURCE, "placing the job agent")
    # The signing key goes over the administrative link, never over the job key.
    node_key = shlex.quote(NODE_SIGNING_KEY)
    install_key = (
        f"umask 077 && mkdir -p {shlex.quote(str(Path(NODE_SIGNING_KEY).parent))} && "
        f"cat > {node_key}.$$ && mv -f {node_key}.$$ {node_key}"
    )
    _run(transport, install_key, ensure_signing_key() + b"\n", "placing the job signing key")
    # Every other key is kept as it is; an older job key line is replaced.
    authorize = (
        "umask 077 && mkdir -p ~/.ssh && touch ~/.ssh/authorized_keys && "
        f"grep -v ' {KEY_COMMENT}$' ~/.ssh/authorized_keys > ~/.ssh/authorized_keys.$$ ; "
        f"printf '%s\\n' {shlex.quote(line)} >> ~/.ssh/authorized_keys.$$ && "
        "mv -f ~/.ssh/authorized_keys.$$ ~/.ssh/authorized_keys"
    )
    _run(transport, authorize, None, "authorizing the job key")


def _run(transport: SshTransport, command: str, stdin: bytes | None, what: str) -> None:
    channel = transport.open_stream(command, TIMEOUT_S)
    try:
        channel.settimeout(TIMEOUT_S)
        if stdin is not None:
            channel.sendall(stdin)
        channel.shutdown_write()
        errors = b""
        while not channel.exit_status_ready():
            errors += channel.recv_stderr(4096) if channel.recv_stderr_ready() else b""
            channel.recv(4096)
        status = channel.recv_exit_status()
    finally:
        channel.close()
    if status != 0:
        raise OperationalError(
            f"{transport.host}: {what} failed (exit {status}): "
            f"{errors.decode('utf-8', 'replace').strip()}"
        )


def job_spec(node: HostSpec) -> HostSpec:
    """The node as jobs reach it: same address, port, user and pinned host key, job key."""
    key = job_key_path()
    if not key.exists():
        raise TransportError(
            f"{node.name}: no node job key at {key}: run `restore node install {node.name}`"
        )
    variables = dict(node.connection_vars)
    variables.pop("ansible_private_key_file", None)
    variables["ansible_ssh_private_key_file"] = str(key)
    return dataclasses.replace(
        node, connection_vars=tuple(sorted(variables.items())), secret_vars=()
    )
