"""The README's promises: the two commands, the CI command, the example code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    block = re.search(r"## The two commands.*?```bash\n(.*?)```", README, re.S)
    assert block, "README lost its 'The two commands' section"
    return [ln for ln in block.group(1).splitlines() if ln and not ln.startswith("#")]


def test_ci_runs_the_readme_commands() -> None:
    run, test = _commands()
    assert "pytest" in test and "rmlab demo" in run
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert run in ci and test in ci, ".ci/run must run the README's commands verbatim"


def test_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = re.search(r"## Ten lines\n\n```python\n(.*?)```", README, re.S)
    assert code
    exec(
        compile(
            code.group(1)
            .replace("class Scale", "class ReadmeScale")
            .replace("Scale,", "ReadmeScale,"),
            "README",
            "exec",
        ),
        {},
    )
    out = capsys.readouterr().out
    assert "[0. 2. 4. 6.]" in out


def test_readme_node_example_works() -> None:
    import numpy as np

    from rmlab import Audio
    from rmlab.testing import run_node

    code = re.search(r"## Writing a node\n\n```python\n(.*?)```", README, re.S)
    assert code
    scope: dict = {}
    exec(compile(code.group(1).replace("class Gate", "class ReadmeGate"), "README", "exec"), scope)
    gate = scope["ReadmeGate"](threshold_db=-30.0)
    loud = Audio(np.full(960, 0.5, np.float32), 48000)
    quiet = Audio(np.full(960, 0.001, np.float32), 48000)
    assert run_node(gate, [loud, quiet, loud]) == [loud, loud]


def test_readme_watcher_example_works(capsys: pytest.CaptureFixture[str]) -> None:
    code = re.search(r"### A watcher\n\n```python\n(.*?)```", README, re.S)
    assert code
    exec(compile(code.group(1).replace('"shm"', '"local"'), "README", "exec"), {})
    assert "20 ['gain', 'lp']" in capsys.readouterr().out
