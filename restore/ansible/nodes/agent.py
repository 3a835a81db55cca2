"""The job keeper on an execution node: runs `ansible-runner worker` detached from the SSH
link, so that a link lost mid-job loses nothing.

Copied to the node by the control side and run there with the node's own Python; standard
library only. Commands (one per SSH exec):
  start ID    read the transmit stream on stdin into the job directory, start the worker under
              a supervisor in its own session, return at once;
  attach ID N stream the worker's output from byte N, following it until the job has ended;
  cancel ID   stop the job and every process it started;
  cleanup ID  delete the job directory (the control side has everything).
Jobs come in through a dedicated key whose authorized_keys entry forces `agent.py --forced`:
the verb is then taken from SSH_ORIGINAL_COMMAND and nothing else can be run with that key.
The supervisor is a child subreaper: ansible-core 2.19's workers leave the worker's session,
and as orphans they come back to the supervisor, which can then stop them all on a cancel.
Exit code 3 means "no such job" (it never started here, or it was cleaned up).

`start` runs only jobs the control node signed. The stream must begin with one line
`restore-job-v1 HMAC` where HMAC is HMAC-SHA256, under the signing key `restore node
install` placed in SIGNING_KEY (root-only), of the job id, a newline and the transmit stream.
An unsigned, forged, altered or replayed job (each signature is accepted once) is refused
with exit 4 and nothing of it is kept or run. Through the job key, `attach`, `cancel` and
`cleanup` are signed too: their command ends with `--sig NONCE:HMAC`, an HMAC under a key
derived from the signing key (REQUEST_KEY_LABEL) of the verb, its arguments and the nonce,
each nonce accepted once; without one they are refused with exit 4. See
docs/execution-nodes.md for what the job key can and cannot do.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

JOBS = Path("/var/lib/restore-node/jobs")
RUNNER = "/opt/restore-node/venv/bin/ansible-runner"
KEEPALIVE_S = 5  # link.py's watchdog counts on it
_PR_SET_CHILD_SUBREAPER = 36
NO_SUCH_JOB = 3
REFUSED = 4
SIGNING_KEY = Path("/etc/restore-node/job-signing.key")
SEEN = JOBS.parent / "seen-signatures"
SIGNATURE_PREFIX = b"restore-job-v1 "
REQUEST_KEY_LABEL = b"restore-node requests v1"


def _job(ident: str) -> Path:
    if not ident or not all(c.isalnum() or c in "-_" for c in ident):
        raise SystemExit("bad job id")
    return JOBS / ident


def _refuse(job: Path, why: str) -> int:
    shutil.rmtree(job, ignore_errors=True)
    sys.stderr.write(f"restore-node: job refused: {why}\n")
    return REFUSED


def start(ident: str) -> int:
    job = _job(ident)
    job.mkdir(parents=True, mode=0o700)
    transmit = job / "transmit"
    try:
        key = bytes.fromhex(SIGNING_KEY.read_text().strip())
    except (OSError, ValueError):
        return _refuse(job, f"no signing key at {SIGNING_KEY} (restore node install)")
    header = sys.stdin.buffer.readline(200)
    if not header.startswith(SIGNATURE_PREFIX) or not header.endswith(b"\n"):
        return _refuse(job, "not signed by the control node")
    claimed = header[len(SIGNATURE_PREFIX) :].strip().decode("ascii", "replace")
    mac = hmac.new(key, ident.encode() + b"\n", hashlib.sha256)
    with open(transmit, "wb") as out:
        os.chmod(transmit, 0o600)
        while chunk := sys.stdin.buffer.read(64 * 1024):
            mac.update(chunk)
            out.write(chunk)
    signature = mac.hexdigest()
    if not hmac.compare_digest(signature, claimed):
        return _refuse(job, "bad signature (forged or altered job)")
    SEEN.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:  # a signed job runs once: a captured stream cannot be replayed
        os.close(os.open(SEEN / signature, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return _refuse(job, "this signed job was already started once (replay)")
    if os.fork() != 0:
        # the first child becomes the supervisor; wait until it has recorded itself
        deadline = time.monotonic() + 10
        while not (job / "supervisor").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return 0 if (job / "supervisor").exists() else 1
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    _supervise(job)
    os._exit(0)


def _supervise(job: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    (job / "supervisor").write_text(str(os.getpid()))
    canceled = False

    def on_cancel(_signum: int, _frame: object) -> None:
        nonlocal canceled
        canceled = True
        _kill_descendants()

    signal.signal(signal.SIGTERM, on_cancel)
    env = dict(os.environ, PATH=f"{Path(RUNNER).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    with (
        open(job / "transmit", "rb") as stdin,
        open(job / "stream", "ab") as stdout,
        open(job / "stderr", "ab") as stderr,
    ):
        worker = subprocess.Popen(
            [
                RUNNER,
                "worker",
                "--private-data-dir",
                str(job / "private"),
                "--keepalive-seconds",
                str(KEEPALIVE_S),
            ],
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env,
        )
        code = worker.wait()
    _kill_descendants()  # anything the job left behind (detached workers)
    while True:  # reap what came back to us as orphans
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    # the keys and inventory the job carried go as soon as the job is over
    (job / "transmit").unlink(missing_ok=True)
    shutil.rmtree(job / "private", ignore_errors=True)
    (job / "exit").write_text("canceled" if canceled else str(code))


def _kill_descendants() -> None:
    me = os.getpid()
    for _ in range(10):
        found = _descendants(me)
        if not found:
            return
        for pid in found:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def attach(ident: str, offset: int) -> int:
    job = _job(ident)
    stream = job / "stream"
    deadline = time.monotonic() + 30
    while not stream.exists():
        if not job.exists() or time.monotonic() > deadline:
            return NO_SUCH_JOB
        time.sleep(0.1)
    out = sys.stdout.buffer
    with open(stream, "rb") as source:
        source.seek(offset)
        while True:
            data = source.read(64 * 1024)
            if data:
                out.write(data)
                out.flush()
                continue
            if (job / "exit").exists():
                data = source.read()  # written between the last read and the exit mark
                if data:
                    out.write(data)
                    out.flush()
                return 0
            time.sleep(0.1)


def cancel(ident: str) -> int:
    job = _job(ident)
    try:
        pid = int((job / "supervisor").read_text())
    except (OSError, ValueError):
        return NO_SUCH_JOB
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0  # already over
    return 0


def cleanup(ident: str) -> int:
    shutil.rmtree(_job(ident), ignore_errors=True)
    return 0


def _check_request(args: list[str], token: str) -> str | None:
    """Why a signed request is refused, or None: forged, or its nonce already used."""
    nonce, _, claimed = token.partition(":")
    if len(nonce) != 32 or not all(c in "0123456789abcdef" for c in nonce):
        return "malformed request signature"
    try:
        key = bytes.fromhex(SIGNING_KEY.read_text().strip())
    except (OSError, ValueError):
        return f"no signing key at {SIGNING_KEY} (restore node install)"
    request_key = hmac.new(key, REQUEST_KEY_LABEL, hashlib.sha256).digest()
    expected = hmac.new(request_key, "\n".join([*args, nonce]).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), claimed):
        return "bad request signature (not from the control node)"
    SEEN.mkdir(parents=True, mode=0o700, exist_ok=True)
    try:
        os.close(os.open(SEEN / f"request-{nonce}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return "this signed request was already used once (replay)"
    return None


def main(argv: list[str]) -> int:
    if argv[:1] == ["--forced"]:
        # The job key's forced command: only the verbs below, whatever the client asked for.
        argv = shlex.split(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
        if not argv or argv[0] not in {"start", "attach", "cancel", "cleanup"}:
            sys.stderr.write("restore-node: this key only starts, attaches, cancels, cleans jobs\n")
            return 2
        if argv[0] != "start":  # start carries its signature in the stream
            if len(argv) < 4 or argv[-2] != "--sig":
                sys.stderr.write("restore-node: request refused: not signed by the control node\n")
                return REFUSED
            why = _check_request(argv[:-2], argv[-1])
            if why is not None:
                sys.stderr.write(f"restore-node: request refused: {why}\n")
                return REFUSED
            argv = argv[:-2]
    if len(argv) < 2:
        raise SystemExit("usage: agent.py start|attach|cancel|cleanup JOB [OFFSET]")
    command, ident = argv[0], argv[1]
    if command == "start":
        return start(ident)
    if command == "attach":
        return attach(ident, int(argv[2]) if len(argv) > 2 else 0)
    if command == "cancel":
        return cancel(ident)
    if command == "cleanup":
        return cleanup(ident)
    raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
