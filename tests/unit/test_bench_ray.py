"""``rmlab bench ray``: its command line works without starting Ray.

The bench itself starts Ray and measures speed, which is never part of the tests
(timings on shared machines are noise); these check that it is wired into the CLI,
that ``--help`` says what it measures, and that importing it does not import Ray.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from rmlab.cli import main


def test_bench_ray_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "ray", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "rmlab bench ray" in out
    for flag in ("--address", "--rounds", "--seconds", "--replicas", "--no-namespace"):
        assert flag in out
    assert "1.2x" in out  # the target it checks is stated


def test_importing_the_bench_does_not_import_ray() -> None:
    code = "import sys, rmlab.bench.ray; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"
