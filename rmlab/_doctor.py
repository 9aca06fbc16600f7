"""``rmlab doctor``: check what rmlab needs on this machine, and say how to fix what is missing.

Each check returns (ok, detail, fix). Essential checks (Python, numpy, iceoryx2,
/dev/shm) decide the exit status; audio and Jupyter checks only warn, because a
Binder kernel without a sound card, or a script without Jupyter, is a normal setup.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["run_doctor"]

Check = tuple[bool, str, str]


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return ok, sys.version.split()[0], "install Python 3.11 or newer"


def _iceoryx2() -> Check:
    try:
        from rmlab.runtime.shm.channels import iox_node

        t0 = time.perf_counter()
        node = iox_node("rmlab-doctor")
        took = time.perf_counter() - t0
        del node
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}", "pip install --upgrade 'iceoryx2>=0.10'"
    import iceoryx2

    version = getattr(iceoryx2, "__version__", "installed")
    return True, f"{version}, a node starts in {took * 1000:.0f} ms", ""


def _dev_shm() -> Check:
    try:
        usage = shutil.disk_usage("/dev/shm")
    except OSError as exc:
        return False, f"not usable: {exc}", "the shm executor needs /dev/shm; use executor='local'"
    total, free = usage.total / 2**20, usage.free / 2**20
    detail = f"{free:.0f} MiB free of {total:.0f} MiB"
    if free < 64:
        return False, detail, "Docker: run with --shm-size=1g; or use executor='local'"
    if total < 256:
        return True, detail + " (small: large frames may not fit)", "Docker: --shm-size=1g"
    return True, detail, ""


def _portaudio() -> Check:
    try:
        from rmlab.audio import devices
        from rmlab.errors import DeviceError

        try:
            found = devices()
        except DeviceError as exc:
            return False, str(exc).splitlines()[0], _fix_of(str(exc))
    except ImportError as exc:
        return False, str(exc), "pip install -e ."
    if not found:
        return (
            False,
            "PortAudio works but sees no device",
            ("no sound card here: use the browser microphone (BrowserMic) or a synthetic source"),
        )
    names = ", ".join(d.name for d in found[:4])
    return True, f"{len(found)} devices: {names}{'...' if len(found) > 4 else ''}", ""


def _fix_of(message: str) -> str:
    """DeviceError messages carry their own advice; a second line, if any, is the fix."""
    rest = [line.strip() for line in message.splitlines()[1:] if line.strip()]
    return rest[0] if rest else ""


def _jupyter() -> Check:
    missing = [
        pkg
        for pkg in ("jupyterlab", "ipywidgets", "anywidget", "jupyter_bokeh", "ipykernel")
        if importlib.util.find_spec(pkg) is None
    ]
    if missing:
        return False, "missing: " + ", ".join(missing), "pip install " + " ".join(missing)
    ext = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    wanted = ["@jupyter-widgets/jupyterlab-manager", "anywidget", "@bokeh/jupyter_bokeh"]
    absent = [w for w in wanted if not (ext / w).exists()]
    if absent:
        return (
            False,
            "lab extensions not found: " + ", ".join(absent),
            (
                "reinstall them in this environment: pip install --force-reinstall "
                "ipywidgets anywidget jupyter_bokeh"
            ),
        )
    return True, "JupyterLab with widgets, anywidget and jupyter_bokeh", ""


CHECKS: list[tuple[str, Callable[[], Check], bool]] = [
    ("python", _python, True),
    ("iceoryx2", _iceoryx2, True),
    ("/dev/shm", _dev_shm, True),
    ("portaudio", _portaudio, False),
    ("jupyter", _jupyter, False),
]


def run_doctor(out=sys.stdout) -> int:
    """Run every check, print one line each (and a fix), return 1 if an essential one failed."""
    failed = False
    for name, check, essential in CHECKS:
        try:
            ok, detail, fix = check()
        except Exception as exc:  # a doctor must report, not crash
            ok, detail, fix = False, f"{type(exc).__name__}: {exc}", "please report this"
        mark = "ok  " if ok else ("FAIL" if essential else "warn")
        print(f"{mark}  {name:<10} {detail}", file=out)
        if not ok and fix:
            print(f"      {'':<10} fix: {fix}", file=out)
        failed |= essential and not ok
    return 1 if failed else 0
