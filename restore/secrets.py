"""One secrets policy: which values are secret, how vault secrets are read, and how they are
kept out of everything the tool writes or prints.

**Which values.** Every value decrypted from ansible-vault, and every variable whose *name*
looks secret (`SECRET_NAME`: password, passphrase, secret, token, API key, private key,
credential, authorization, cookie, vault...). Names ending in `_file`, `_path`, `_reference`
or `_kind` say *where* a secret lives (a key file path) and are kept: investigators need them.
Matching by name is deliberately broad: a false positive only hides a value, a false negative
leaks a password.

**Vault.** The inventory is read by ansible-core with the user's vault secrets, from
`--vault-password-file FILE` (repeatable), else `ANSIBLE_VAULT_PASSWORD_FILE` / ansible.cfg,
and `--ask-vault-pass` (asked once per process). Decrypted values feed the tool's own SSH and
WinRM transports. A vaulted value that does not decrypt is an error naming the host and the
variable (exit 2), never silently dropped. Playbooks run by ansible-runner get the same
password files on their command line (only the path is recorded); a prompted password goes
to a private temporary file, outside every artifacts folder, removed at exit.

**Masking.** Every secret value seen by this process is registered here (`remember`) and
replaced by ``***`` wherever text is written: the journal (and so reports), ansible-runner
artifacts (job_events, stdout, the `command` file), console messages. ansible-runner also
records the job's whole environment: jobs get only `job_environment()`, an allowlist, so an
operator's `VAULT_TOKEN` or cloud keys never reach a job or its artifacts.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from restore.errors import InputError

REDACTED = "***"

SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|"
    r"authorization|cookie|become_pass|vault)",
    re.IGNORECASE,
)
SAFE_NAME_SUFFIX = re.compile(r"(_file|_path|_reference|_kind)$", re.IGNORECASE)
_PEM_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_MIN_SECRET_LEN = 3  # shorter values would mask ordinary words everywhere

_known: set[str] = set()
_known_lock = threading.Lock()


def is_secret_name(name: str) -> bool:
    """A variable or key whose value is a secret whatever it holds."""
    return bool(SECRET_NAME.search(name)) and not SAFE_NAME_SUFFIX.search(name)


def remember(values: Iterable[str]) -> None:
    """Secret values this process has seen: masked in everything it writes from now on."""
    with _known_lock:
        _known.update(v for v in values if v and len(v) >= _MIN_SECRET_LEN)


def known() -> list[str]:
    """Every remembered secret, longest first (so a secret containing another is masked whole)."""
    with _known_lock:
        return sorted(_known, key=len, reverse=True)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `value` with secrets replaced by ``***``.

    Three nets, because one is never enough: values under secret-looking keys, known secret
    values (remembered ones and `secrets`) wherever they appear inside strings, and PEM
    private keys.
    """
    extra = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}
    values = sorted(extra.union(known()), key=len, reverse=True)
    return _redact(value, values)


def _redact(value: Any, values: list[str]) -> Any:
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            name = str(key)
            if is_secret_name(name) and item:
                result[name] = REDACTED
            else:
                result[name] = _redact(item, values)
        return result
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(item, values) for item in value]
    if isinstance(value, str):
        return _mask(value, values)
    return value


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    extra = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}
    return _mask(text, sorted(extra.union(known()), key=len, reverse=True))


def _mask(text: str, values: list[str]) -> str:
    for secret in values:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _PEM_BLOCK.sub(REDACTED, text)


# --- vault -----------------------------------------------------------------------------------


class _VaultSettings:
    def __init__(self) -> None:
        self.files: list[str] = []
        self.ask = False
        self.prompted: Any = None  # the PromptVaultSecret, once asked
        self.prompt_file: Path | None = None
        self.lock = threading.Lock()


_vault = _VaultSettings()


def configure_vault(password_files: Iterable[str | Path] = (), ask: bool = False) -> None:
    """What the command line said (`--vault-password-file`, `--ask-vault-pass`)."""
    with _vault.lock:
        for name in password_files:
            if str(name) not in _vault.files:
                _vault.files.append(str(name))
        _vault.ask = _vault.ask or ask


def vault_password_files() -> list[str]:
    """The password files in use: the command line's, else ANSIBLE_VAULT_PASSWORD_FILE."""
    if _vault.files:
        return list(_vault.files)
    from_env = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE", "")
    return [part for part in from_env.split(os.pathsep) if part] if from_env else []


def vault_secrets(loader: Any) -> list[tuple[str, Any]]:
    """Load the vault secrets into ansible-core's `loader` and the process-wide vault context.

    Raises InputError (exit 2) for a password file that is missing or cannot be read.
    """
    from ansible.errors import AnsibleError
    from ansible.parsing.vault import (
        PromptVaultSecret,
        VaultSecretsContext,
        get_file_vault_secret,
    )

    secrets: list[tuple[str, Any]] = []
    for name in vault_password_files():
        path = Path(name).expanduser()
        if not path.exists():
            raise InputError(
                "vault password file not found",
                file=str(path),
                hint="check --vault-password-file / ANSIBLE_VAULT_PASSWORD_FILE",
            )
        try:
            secret = get_file_vault_secret(filename=str(path), vault_id="default", loader=loader)
            secret.load()
        except AnsibleError as exc:
            raise InputError(
                f"cannot read vault password: {_first_line(exc)}", file=str(path)
            ) from None
        secrets.append(("default", secret))
    with _vault.lock:
        if _vault.ask and _vault.prompted is None:
            prompted = PromptVaultSecret(vault_id="default", prompt_formats=["Vault password: "])
            try:
                prompted.load()
            except (AnsibleError, EOFError) as exc:
                raise InputError(
                    f"no vault password given: {exc}", key="--ask-vault-pass"
                ) from None
            _vault.prompted = prompted
        if _vault.prompted is not None:
            secrets.append(("default", _vault.prompted))
    if secrets:
        loader.set_vault_secrets(secrets)
        # ansible-core 2.19 decrypts lazily through one process-wide context that can be set
        # only once; later loads (another inventory, a re-read) replace it with theirs.
        if VaultSecretsContext.current(optional=True) is None:
            VaultSecretsContext.initialize(VaultSecretsContext(secrets))
        else:
            VaultSecretsContext._current = VaultSecretsContext(secrets)
    return secrets


def playbook_vault_args() -> list[str]:
    """ansible-playbook options that give a job the same vault secrets as this process.

    Only file *paths* go on the command line (which ansible-runner records); a password that
    was typed at the prompt is written once to a private file outside any artifacts folder.
    """
    args: list[str] = []
    for name in vault_password_files():
        args += ["--vault-password-file", str(Path(name).expanduser().resolve())]
    with _vault.lock:
        if _vault.prompted is not None:
            if _vault.prompt_file is None:
                folder = Path(tempfile.mkdtemp(prefix="restore-vault-"))  # 0700
                target = folder / "password"
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(bytes(_vault.prompted.bytes))
                _vault.prompt_file = target
                atexit.register(shutil.rmtree, folder, True)
            args += ["--vault-password-file", str(_vault.prompt_file)]
    return args


def decrypt(value: Any, host: str, variable: str) -> str:
    """The plain text of a vaulted inventory value; InputError naming host and variable."""
    try:
        plain = str(value)
    except Exception as exc:  # ansible-core raises its own errors, or ReferenceError without
        raise InputError(
            f"host {host}: cannot decrypt vaulted variable '{variable}': {_first_line(exc)}",
            hint="give the right vault password with --vault-password-file, "
            "--ask-vault-pass or ANSIBLE_VAULT_PASSWORD_FILE",
        ) from None
    remember([plain])
    return plain


def is_vaulted(value: Any) -> bool:
    """A value ansible-core decrypted (or will decrypt) from ansible-vault: an encrypted
    string, or any value read from a vars file that was encrypted as a whole (ansible-core
    2.19 tags those only with the file they came from, so the file itself is looked at)."""
    if type(value).__name__ in {"AnsibleVaultEncryptedUnicode", "EncryptedString"}:
        return True
    try:
        from ansible.module_utils._internal._datatag import AnsibleTagHelper
    except ImportError:  # pragma: no cover - older ansible-core
        return False
    for tag in AnsibleTagHelper.tags(value):
        name = type(tag).__name__
        if name in {"VaultedValue", "SourceWasEncrypted"}:
            return True
        if name == "Origin" and _encrypted_file(str(getattr(tag, "path", "") or "")):
            return True
    return False


_encrypted_files: dict[str, bool] = {}


def _encrypted_file(path: str) -> bool:
    if not path:
        return False
    known_answer = _encrypted_files.get(path)
    if known_answer is None:
        try:
            with open(path, "rb") as source:
                known_answer = source.read(len(b"$ANSIBLE_VAULT")) == b"$ANSIBLE_VAULT"
        except OSError:
            known_answer = False
        _encrypted_files[path] = known_answer
    return known_answer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- the environment of ansible-runner jobs ----------------------------------------------------

_JOB_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TZ",
        "TMPDIR",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "SSH_AUTH_SOCK",
        "KRB5CCNAME",
        "KRB5_CONFIG",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "PYTHONUNBUFFERED",
        "JOB_ID",
        "PROJECT_UPDATE_ID",
        "RUNNER_OMIT_EVENTS",
        "RUNNER_ONLY_FAILED_EVENTS",
    }
)
_JOB_ENV_PREFIXES = ("ANSIBLE_", "LC_", "RESTORE_", "AWX_")


def job_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The part of `env` an ansible-runner job may see (and record in its artifacts).

    ansible-runner starts from a copy of this process's whole environment and writes it into
    each job's `command` artifact. Only what Ansible needs goes through: the system basics,
    the SSH agent and Kerberos, and ANSIBLE_*/LC_*/RESTORE_* settings, minus any of those
    whose name looks secret.
    """
    return {
        name: value
        for name, value in env.items()
        if (name in _JOB_ENV_NAMES or name.startswith(_JOB_ENV_PREFIXES))
        and (not is_secret_name(name) or name == "ANSIBLE_VAULT_PASSWORD_FILE")
    }
