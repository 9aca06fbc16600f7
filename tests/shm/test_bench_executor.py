"""``rmlab bench executor`` runs end to end and prints every row its note relies on."""

from __future__ import annotations

import re

import pytest

from rmlab.bench import executor

pytestmark = [pytest.mark.shm]


def test_the_executor_bench_prints_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert executor.main(["--rounds", "1", "--frames", "2", "--seconds", "0.2"]) == 0
    out = capsys.readouterr().out
    for name in ("Pipe x3", "Queue x3", "local x3", "shm x3", "shm-co x3"):
        assert re.search(rf"^{name}\s+\d", out, re.M), f"no {name} row:\n{out}"
    assert "vs Queue (med/p99)" in out and "of its 4 copies" in out  # ratios, copy floor
    assert re.search(r"CPU vs Queue x3: shm x3 \d+\.\d+x", out)
    assert re.search(r"^shm\s+\d+\.\d+ s$", out, re.M)  # cold start
    assert "idle shm worker" in out
