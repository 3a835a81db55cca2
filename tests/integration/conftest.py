"""Shared lab fixtures: one session-scoped lab, torn down in a finalizer whatever happens.

Tests that need their own hosts bring their own Lab under tmp_path and tear it down too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from restore.lab import Lab
from restore.models import Platform


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Two Linux hosts and one Windows host, shared by the lab tests of a session."""
    state = tmp_path_factory.mktemp("lab-session")
    the_lab = Lab(state)
    try:
        the_lab.up(
            [("alpha", Platform.LINUX), ("beta", Platform.LINUX), ("gamma", Platform.WINDOWS)]
        )
        yield the_lab
    finally:
        Lab(state).down()


@pytest.fixture
def fresh_lab(lab: Lab) -> Iterator[Lab]:
    """The session lab, with every host reset to its golden image after the test."""
    yield lab
    for name in list(Lab(lab.state_dir).hosts):
        current = Lab(lab.state_dir)
        current.fault(name, None)
        current.quarantine(name, False)
        current.reset(name)
