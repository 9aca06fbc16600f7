"""Every tutorial notebook runs top to bottom, on synthetic sources, with no audio device,
and ends with its live widgets still live.

"Ran" is not enough: a notebook whose last cell closes its console runs cleanly under
Run All, and then shows an empty output (or, in Voila, "Loading widget..." forever).
So after the notebook's own cells, one more cell runs in the same kernel and checks
every live widget the notebook left in its namespace: none is closed, a console
starts and streams (a browser-microphone console with frames as the page sends
them), a bound ``BrowserMic`` still pushes into an open session. Each notebook that
teaches a live widget must leave the ones it teaches (``LIVE``).

A notebook that starts Ray (``RAY``) runs inside a private network namespace that has
only loopback (``unshare -n``, as root), where Ray keeps its traffic on 127.0.0.1 (see
tests/ray): the test runs itself again there, for that notebook only, and is skipped
with the reason when Ray, ``unshare`` or root is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.ray.test_namespace import why_no_namespace

pytestmark = pytest.mark.notebooks
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# the live widgets each notebook must end with (by type name), at least
LIVE = {
    "02-visual-builder": {"Builder"},
    "03-live-microphone": {"BrowserMic", "Console"},
    "06-teaching-filters": {"Lab"},
}

RAY = {"08-beyond-one-machine"}
"""Notebooks that start a local Ray instance (``ray="local"``)."""
_IN_NAMESPACE = os.environ.get("RMLAB_NOTEBOOK_NETNS") == "1"
"""True in the run inside the private network namespace."""

# Runs after the notebook's cells, in its kernel; prints one JSON line.
CHECK = """
def _rm_check():
    import json, time
    import numpy as np
    from rmlab.audio import BrowserMic
    from rmlab.lab import Builder, Console, Lab

    def frame(mic, seq):  # a frame as the page's AudioWorklet sends it
        content = {"type": "frame", "run": 99, "seq": seq, "t": time.time() * 1000,
                   "rate": 48000}
        mic._handle_custom_msg(content, [np.zeros(mic.frame_size, "<f4").tobytes()])

    def until(what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not what():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    found, problems = {}, []
    for name, w in list(globals().items()):
        if name.startswith("_") or not isinstance(w, (Builder, Console, Lab, BrowserMic)):
            continue
        found[name] = type(w).__name__
        if w.comm is None:
            problems.append(f"{name} is closed: its output shows nothing")
            continue
        if isinstance(w, Lab):
            w = w.console  # a Lab's console must be live like one of its own
        if isinstance(w, Console):
            was_running = w.running
            if not was_running:
                w.start()
            if w.source_picker.value == "browser":
                for seq in range(5):
                    frame(w.browser_mic, seq)
            if not until(lambda: w.status.get("outputs", 0) >= 3):
                problems.append(f"{name} started but nothing came out: {w.status}")
            if w.errors:
                problems.append(f"{name} shows errors: {w.errors}")
            if not was_running:
                w.stop()
            if w.running or w.start_button.disabled:
                problems.append(f"{name} cannot be started again")
        elif isinstance(w, BrowserMic) and w.bound:
            before = w.stats()["frames"]
            frame(w, 0)
            if not until(lambda: w.stats()["frames"] > before):
                problems.append(f"{name} is bound but its frames go nowhere: {w.stats()}")
    print(json.dumps({"found": found, "problems": problems}))

_rm_check()
"""


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 4
    assert set(LIVE) <= {p.stem for p in NOTEBOOKS}


def _run_in_namespace(path: Path) -> None:
    """This test, for ``path`` only, in a second pytest inside ``unshare -n``."""
    why = why_no_namespace()
    if why:
        pytest.skip(why)
    name = test_notebook_runs_and_leaves_its_widgets_live.__name__
    test_id = f"{Path(__file__).resolve().relative_to(ROOT)}::{name}[{path.stem}]"
    script = 'ip link set lo up && exec "$0" -m pytest -q -p no:cacheprovider "$@"'
    cmd = ["unshare", "-n", "bash", "-c", script, sys.executable, test_id]
    # RAY_ADDRESS=local: a plain ray.init() (ray="local") would join any Ray instance
    # it finds running on this machine, and one in another namespace is unreachable
    env = {**os.environ, "RMLAB_NOTEBOOK_NETNS": "1", "RAY_ADDRESS": "local"}
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    out = proc.stdout + ("\n--- stderr ---\n" + proc.stderr if proc.stderr.strip() else "")
    print(out[-20000:])
    assert proc.returncode == 0, f"{path.name} failed inside the namespace:\n{out[-20000:]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_leaves_its_widgets_live(path: Path) -> None:
    if path.stem in RAY and not _IN_NAMESPACE:
        _run_in_namespace(path)
        return
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs: clear them"
    )
    nb.cells.append(nbformat.v4.new_code_cell(CHECK))
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError with the cell and its traceback
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    report = json.loads(text.strip().splitlines()[-1])
    assert not report["problems"], f"{path.name}: {report['problems']}"
    expected = LIVE.get(path.stem, set())
    missing = expected - set(report["found"].values())
    assert not missing, f"{path.name} ends without a live {', '.join(sorted(missing))}"
