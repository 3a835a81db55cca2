"""Progress of long work (golden image build, `lab up`/`down`, `check`, report building).

On a terminal: a rich bar (or a spinner when the amount of work is unknown) on stderr, gone
when the work ends. Elsewhere (CI logs, pipes): plain lines on stderr, a few per task and never
one per item of a thousand, so that a log shows the work going on without drowning in it.
Names shown come from inventories and hosts: they are shown as plain text, never as markup
(DESIGN §9).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from restore.cli import console

# Plain mode: a line at most this often, plus the first and the last item.
PLAIN_EVERY_S = 5.0

Advance = Callable[[str], None]


@contextmanager
def steps(label: str, total: int) -> Iterator[Advance]:
    """Yield `advance(name)`, to call once per finished item (from any thread)."""
    lock = threading.Lock()
    if console.err.is_terminal:
        with Progress(
            TextColumn("{task.fields[label]}", style="bold", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[item]}", markup=False),
            TimeElapsedColumn(),
            console=console.err,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=total, label=console.safe(label), item="")

            def advance(name: str) -> None:
                with lock:
                    bar.update(task, advance=1, item=console.safe(name))

            yield advance
        return
    done = 0
    last = 0.0
    started = time.monotonic()

    def advance_plain(name: str) -> None:
        nonlocal done, last
        with lock:
            done += 1
            now = time.monotonic()
            if done in (1, total) or now - last >= PLAIN_EVERY_S:
                last = now
                console.info(f"{label}: {done}/{total} ({name}) {now - started:.0f}s")

    yield advance_plain


@contextmanager
def working(label: str) -> Iterator[None]:
    """A spinner for work of unknown length (a line before and after off a terminal)."""
    started = time.monotonic()
    if console.err.is_terminal:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[label]}", style="bold", markup=False),
            TimeElapsedColumn(),
            console=console.err,
            transient=True,
        ) as spinner:
            spinner.add_task("", total=None, label=label)
            yield
        console.info(f"{label}: done in {time.monotonic() - started:.0f}s")
        return
    console.info(f"{label}...")
    yield
    console.info(f"{label}: done in {time.monotonic() - started:.0f}s")
