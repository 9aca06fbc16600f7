"""A private JupyterLab in headless Chromium, driven from Python: ``rmlab bench plots``
and the browser tests (``tests/browser/conftest.py`` wraps these as fixtures).

It lives in the package, not in the tests, because the installed package must never
import the test suite; it stays private because it is a measuring and testing
harness, not something a notebook user calls.

- ``jupyter_lab_server(home)``: a JupyterLab server with its own config, data and
  runtime dirs under ``home`` (a token, a free port, no news toast, no autosave, a
  read-only extension manager), serving ``home/root``; killed on exit.
- ``write_fake_mic(directory)``: a 16-bit 48 kHz 440 Hz WAV that Chromium plays as
  its microphone.
- ``chromium(fake_mic)``: Debian's Chromium through Playwright, with a fake camera
  and microphone and permission prompts auto-accepted.
- ``Lab(browser, server)``: opens notebooks in fresh workspaces (``lab.open(cells)``
  returns a ``Notebook``: ``run_all()``, ``execute(code)``, ``evaluate(expr)``,
  ``wait_for(expr, value)``, ``page``, ``console``); ``close()`` shuts their kernels
  down.

Only the standard library and numpy are imported here; JupyterLab, Playwright,
nbformat and scipy are imported where they are used (JupyterLab, Playwright and
nbformat come with the test extra: ``pip install -e '.[test]'``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHROMIUM",
    "FakeMic",
    "JupyterServer",
    "Lab",
    "Notebook",
    "chromium",
    "jupyter_lab_server",
    "missing_browser",
    "write_fake_mic",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # a microphone that plays a file, and permission prompts answered "allow"
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def missing_browser() -> str | None:
    """Why a browser cannot be driven here (no Chromium, no Playwright), or None if it can."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


# -- the JupyterLab server --------------------------------------------------------------


@dataclass
class JupyterServer:
    """A running JupyterLab: its base URL, token and root directory."""

    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, path: str) -> Any:
        """Call the REST API (``api("GET", "/api/kernels")``); returns decoded JSON or None."""
        req = urllib.request.Request(f"{self.url}{path}?token={self.token}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log, for error messages."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _private_jupyter_env(home: Path) -> dict[str, str]:
    """Environment for a server that reads and writes nothing outside ``home``."""
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "config" / "lab" / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "config" / "lab" / "workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    # no "Jupyter news?" toast over the page
    labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
    labconfig.mkdir()
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    # no autosave: Lab would write widget outputs back into the notebook under test
    docmanager = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    return {**os.environ, **{k: str(v) for k, v in dirs.items()}, "PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def jupyter_lab_server(home: Path, timeout: float = 60) -> Iterator[JupyterServer]:
    """A JupyterLab server whose state all lives in ``home`` (created if missing),
    answering within ``timeout`` seconds; stopped when the block ends."""
    home.mkdir(parents=True, exist_ok=True)
    root = home / "root"
    root.mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    log = home / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=_private_jupyter_env(home), stdout=out, stderr=subprocess.STDOUT, cwd=root
        )
    server = JupyterServer(f"http://127.0.0.1:{port}", token, root, proc, log)
    try:
        _wait_for_status(server, timeout)
        yield server
    finally:
        _stop(proc)


def _wait_for_status(server: JupyterServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early:\n{server.log_tail()}")
        try:
            server.api("GET", "/api/status")
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{server.log_tail()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the browser ------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeMic:
    """The WAV Chromium plays as its microphone (looped)."""

    path: Path
    frequency: float = 440.0
    amplitude: float = 0.5
    sample_rate: int = 48000
    seconds: float = 10.0  # a whole number of cycles, so the loop point is seamless


def write_fake_mic(directory: Path) -> FakeMic:
    """Write the fake microphone's tone as ``directory/tone.wav`` (created if missing)."""
    from scipy.io import wavfile

    directory.mkdir(parents=True, exist_ok=True)
    mic = FakeMic(directory / "tone.wav")
    n = np.arange(round(mic.seconds * mic.sample_rate))
    x = mic.amplitude * np.sin(2 * np.pi * mic.frequency * n / mic.sample_rate)
    wavfile.write(mic.path, mic.sample_rate, np.round(x * 32767).astype(np.int16))
    return mic


@contextlib.contextmanager
def chromium(fake_mic: FakeMic) -> Iterator[Any]:
    """Headless Chromium playing ``fake_mic`` as its microphone; closed when the block ends.

    Debian's build is used, never ``playwright install``. While the block runs,
    Playwright's sync API keeps an asyncio loop marked as running on this thread,
    so ``asyncio.run`` fails in the meantime ("cannot be called from a running event
    loop"): keep the block as short as its users allow.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={fake_mic.path}"],
        )
        try:
            yield b
        finally:
            b.close()


# -- notebooks in the lab -----------------------------------------------------------------

# Read every code cell's state from the open notebook panel.
_CELLS_JS = """() => {
  const panel = window.__rmNotebook;
  return panel.content.widgets.filter((c) => c.model.type === "code").map((c) => ({
    count: c.model.executionCount,
    errors: c.model.outputs.toJSON().filter((o) => o.output_type === "error"),
  }));
}"""

# Execute code in the notebook's kernel without adding a cell; collect stdout.
_EXECUTE_JS = """async (code) => {
  const kernel = window.__rmNotebook.sessionContext.session.kernel;
  const future = kernel.requestExecute({ code, store_history: false, stop_on_error: true });
  let stdout = "", stderr = "", error = null;
  future.onIOPub = (msg) => {
    const c = msg.content;
    if (msg.header.msg_type === "stream") {
      if (c.name === "stdout") stdout += c.text; else stderr += c.text;
    } else if (msg.header.msg_type === "error") {
      error = `${c.ename}: ${c.evalue}\\n${c.traceback.join("\\n")}`;
    }
  };
  await future.done;
  return { stdout, stderr, error };
}"""

_NOTEBOOK_IDLE_JS = "() => window.__rmNotebook.sessionContext.session?.kernel?.status === 'idle'"

# Wait for the notebook to be the current tab with an idle kernel; remember its panel.
_KERNEL_IDLE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext && w.sessionContext.session?.kernel;
  if (!kernel || kernel.status !== "idle") return false;
  window.__rmNotebook = w;
  return true;
}"""


@dataclass
class Notebook:
    """A notebook open in the lab: its page, and its kernel through the page.

    ``console`` collects the page's console errors and warnings and uncaught
    exceptions, for assertion messages.
    """

    page: Any
    path: str
    console: list[str] = field(default_factory=list)

    def run_all(self, timeout: float = 60) -> None:
        """Run every cell and wait until each has run; fail with any cell's traceback."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        deadline = time.monotonic() + timeout
        while True:
            cells = self.page.evaluate(_CELLS_JS)
            errors = [e for c in cells for e in c["errors"]]
            if errors:
                tb = "\n".join(e["ename"] + ": " + e["evalue"] for e in errors)
                raise AssertionError(f"a cell of {self.path} failed: {tb}\n{_traceback(errors)}")
            done = all(c["count"] is not None for c in cells)
            if done and self.page.evaluate(_NOTEBOOK_IDLE_JS):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.path}: cells still running after {timeout} s")
            time.sleep(0.1)

    def execute(self, code: str) -> str:
        """Run ``code`` in the kernel and return its stdout; raise with its traceback."""
        result = self.page.evaluate(_EXECUTE_JS, code)
        if result["error"]:
            raise AssertionError(f"kernel error:\n{ANSI.sub('', result['error'])}")
        return result["stdout"]

    def evaluate(self, expr: str) -> Any:
        """The JSON value of a Python expression evaluated in the kernel."""
        out = self.execute(f"import json as _j; print(_j.dumps({expr}))")
        return json.loads(out.strip().splitlines()[-1])

    def wait_for(self, expr: str, expected: Any, timeout: float = 5.0) -> None:
        """Poll ``evaluate(expr)`` until it equals ``expected``: widget state reaches the
        kernel on the comm channel, which is not ordered with execute requests."""
        deadline = time.monotonic() + timeout
        while (value := self.evaluate(expr)) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} is {value!r}, expected {expected!r}")
            time.sleep(0.05)

    def _on_console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")


def _traceback(errors: list[dict[str, Any]]) -> str:
    return ANSI.sub("", "\n".join("\n".join(e["traceback"]) for e in errors))


@dataclass
class Lab:
    """Opens notebooks in the lab, each in a fresh browser context and workspace."""

    browser: Any
    server: JupyterServer
    opened: list[tuple[Any, Notebook]] = field(default_factory=list)

    def open(self, cells: list[str], name: str | None = None, init_script: str = "") -> Notebook:
        """Write a notebook of ``cells`` into the server root, open it, wait for its kernel.

        ``init_script`` runs in the page before JupyterLab loads (to stub browser APIs).
        """
        import nbformat

        path = name or f"test-{uuid.uuid4().hex[:8]}.ipynb"
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nbformat.write(nb, self.server.root / path)
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        notebook = Notebook(page, path)
        page.on("pageerror", lambda exc: notebook.console.append(f"uncaught: {exc}"))
        page.on("console", notebook._on_console)
        self.opened.append((context, notebook))
        workspace = uuid.uuid4().hex[:12]
        page.goto(
            f"{self.server.url}/lab/workspaces/{workspace}/tree/{path}?reset&token={self.server.token}"
        )
        page.wait_for_function(_KERNEL_IDLE_JS, timeout=60_000, polling=100)
        return notebook

    def close(self) -> None:
        """Shut down every kernel this lab started and close its pages."""
        for context, notebook in self.opened:
            try:
                notebook.page.evaluate("() => window.__rmNotebook?.sessionContext.shutdown()")
            except Exception as exc:  # the page may be gone; the REST sweep below still runs
                print(f"could not shut down the kernel of {notebook.path}: {exc}")
            context.close()
        self.opened.clear()
        for kernel in self.server.api("GET", "/api/kernels"):
            self.server.api("DELETE", f"/api/kernels/{kernel['id']}")
