"""Fixtures for tests that drive a real JupyterLab in headless Chromium.

The harness itself is ``rmlab.bench._browser`` (``rmlab bench plots`` drives the same
lab); these fixtures give it pytest's scopes, temporary directories and skips.

- ``jupyter_server`` (package): a private JupyterLab server (own config, data and
  runtime dirs, a token, a free port, no news toast, no autosave, a read-only
  extension manager) serving a temporary root directory.
- ``fake_mic`` (session): a 16-bit 48 kHz 440 Hz WAV that Chromium plays as its
  microphone.
- ``browser`` (package): Debian's Chromium through Playwright, with a fake camera and
  microphone and permission prompts auto-accepted.
- ``lab`` (per test): opens notebooks in fresh workspaces (``lab.open(cells)`` returns
  a ``Notebook``: ``run_all()``, ``execute(code)``, ``evaluate(expr)``,
  ``wait_for(expr, value)``, ``page``, ``console``) and
  shuts their kernels down afterwards.
- ``artifacts`` (per test): the folder screenshots go to, ``$RMLAB_TEST_ARTIFACTS``
  (default: the test's tmp_path), so a person can look at what a test saw; never the
  repository.

Tests are skipped only when Chromium or Playwright is missing; CI installs both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rmlab.bench._browser import (
    FakeMic,
    JupyterServer,
    Lab,
    Notebook,
    chromium,
    jupyter_lab_server,
    missing_browser,
    write_fake_mic,
)

# The browser tests import these types from here (``from tests.browser.conftest import Lab``).
__all__ = ["FakeMic", "JupyterServer", "Lab", "Notebook"]


@pytest.fixture(scope="package")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A JupyterLab server for the whole test session, killed at the end."""
    if reason := missing_browser():
        pytest.skip(reason)
    with jupyter_lab_server(tmp_path_factory.mktemp("jupyter")) as server:
        yield server


@pytest.fixture(scope="session")
def fake_mic(tmp_path_factory: pytest.TempPathFactory) -> FakeMic:
    return write_fake_mic(tmp_path_factory.mktemp("audio"))


@pytest.fixture(scope="package")
def browser(fake_mic: FakeMic) -> Iterator[Any]:
    """Headless Chromium (never ``playwright install``: Debian's build is used).

    Package-scoped, not session-scoped: Playwright's sync API keeps an asyncio loop
    marked as running on the main thread while it is open, and every later test that
    calls ``asyncio.run`` would fail with "cannot be called from a running event loop".
    """
    if reason := missing_browser():
        pytest.skip(reason)
    with chromium(fake_mic) as b:
        yield b


@pytest.fixture
def lab(browser: Any, jupyter_server: JupyterServer) -> Iterator[Lab]:
    """Open notebooks with ``lab.open(cells)``; their kernels are shut down afterwards."""
    lab = Lab(browser, jupyter_server)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where a test saves its screenshots (see the module docstring)."""
    folder = Path(os.environ.get("RMLAB_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
