"""The conformance suite runs unchanged against every executor listed here."""

from __future__ import annotations

import pytest

EXECUTORS = ["local", "shm"]


@pytest.fixture(params=EXECUTORS)
def executor(request: pytest.FixtureRequest) -> str:
    return request.param
