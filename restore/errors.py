"""The error tree. Each error carries the exit code the CLI contract assigns to it.

Only the CLI turns these into exit codes; everything below it raises or returns them as data.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_OPERATIONAL = 1
EXIT_INVALID_INPUT = 2
EXIT_NOT_CLEAN = 3
EXIT_INTERRUPTED = 130


class RestoreError(Exception):
    """Base of every error the tool reports to a user (never with a traceback)."""

    exit_code = EXIT_OPERATIONAL


class InputError(RestoreError):
    """Invalid input: a graph, inventory, option or file the user must fix.

    The message is built so that a sysadmin at 3 a.m. can fix the input without reading code:
    which file, which service, which key, which line, and the nearest valid name for a typo.
    """

    exit_code = EXIT_INVALID_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        service: str | None = None,
        key: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.service = service
        self.key = key
        self.line = line
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.service:
            where.append(f"service '{self.service}'")
        if self.key:
            where.append(f"key '{self.key}'")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputErrors(InputError):
    """Several input errors found in one pass, so the user fixes them all at once."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(
            first.message,
            file=first.file,
            service=first.service,
            key=first.key,
            line=first.line,
            hint=first.hint,
        )

    def render(self) -> str:
        return "\n".join(e.render() for e in getattr(self, "errors", []))


class PrerequisiteError(InputError):
    """A system tool is missing; the message names it and the command that installs it."""


class OperationalError(RestoreError):
    """Something failed while acting on hosts (unreachable, timed out, refused)."""

    exit_code = EXIT_OPERATIONAL


class Interrupted(RestoreError):
    """The operator interrupted a run; the journal lets it resume."""

    exit_code = EXIT_INTERRUPTED


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP (or SIGINT), raised like Ctrl-C so that one path stops a run.

    A KeyboardInterrupt subclass because the engine already stops cleanly on Ctrl-C; it
    carries the signal's name so the journal says which signal it was.
    """

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
