"""``import rmlab`` is cheap, and the node library is imported when a node needs it.

Each check runs in a fresh interpreter: this one has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.unit

HEAVY = ["scipy", "soxr", "onnxruntime", "rmlab.nodes.analysis", "rmlab.nodes.audio",
         "rmlab.nodes.vad", "rmlab.nodes.compat", "rmlab.nodes._dsp"]  # fmt: skip


def _run(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it leaves its answer in ``out``."""
    prog = f"import json, sys\nout = {{}}\n{textwrap.dedent(code)}\nprint(json.dumps(out))"
    r = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _loaded(names: list[str]) -> str:
    return f"[m for m in {names!r} if m in sys.modules]"


def test_import_rmlab_imports_no_library_no_numpy() -> None:
    got = _run(f"import rmlab\nout['loaded'] = {_loaded([*HEAVY, 'numpy', 'rmlab.manifest'])}")
    assert got["loaded"] == []


def test_building_and_opening_imports_only_what_the_pipeline_names() -> None:
    got = _run(
        f"""
        from rmlab import Manifest, open_session
        out['at_import'] = {_loaded(HEAVY)}
        m = Manifest().add("p", "PassThrough")
        with open_session(m, "local") as s:
            s.push(1)
            s.pull(timeout=10)
        out['pass_through'] = {_loaded(HEAVY)}
        m.add("g", "Gain").connect("p", "g")
        out['gain'] = {_loaded(HEAVY)}
        """
    )
    assert got["at_import"] == got["pass_through"] == []
    assert set(got["gain"]) == {"soxr", "rmlab.nodes.audio", "rmlab.nodes._dsp"}


def test_public_names_resolve_and_are_listed() -> None:
    got = _run(
        """
        import rmlab
        out['missing'] = [n for n in rmlab.__all__ if n not in dir(rmlab)]
        out['types'] = [type(getattr(rmlab, n)).__name__ for n in ("Manifest", "open_session")]
        out['submodules'] = [rmlab.wire.__name__, rmlab.nodes.audio.__name__]
        try:
            rmlab.no_such_name
        except AttributeError as exc:
            out['error'] = str(exc)
        """
    )
    assert got["missing"] == []
    assert got["types"] == ["type", "function"]
    assert got["submodules"] == ["rmlab.wire", "rmlab.nodes.audio"]
    assert "no_such_name" in got["error"]


def test_the_library_table_is_what_the_modules_register() -> None:
    got = _run(
        """
        import rmlab.nodes as nodes
        out['table'] = {k: f"rmlab.nodes.{m}" for k, m in nodes._LIBRARY.items()}
        out['registered'] = {k: c.__module__ for k, c in nodes.available().items()
                             if c.__module__.startswith("rmlab.nodes.")
                             and c.__module__ != "rmlab.nodes.base"}
        out['pending'] = [k for k, c in nodes._base._registry.items()
                          if isinstance(c, nodes._Pending)]
        """
    )
    assert got["table"] == got["registered"], "update rmlab.nodes._LIBRARY"
    assert got["pending"] == []


def test_a_notebook_class_cannot_take_a_builtin_name_before_the_library_loads() -> None:
    got = _run(
        f"""
        from rmlab import Node, RmlabError
        try:
            class Gain(Node):
                pass
        except RmlabError as exc:
            out['error'] = str(exc)
        out['loaded'] = {_loaded(HEAVY)}
        from rmlab.nodes import lookup
        out['gain'] = lookup("Gain").__module__
        """
    )
    assert "already registered by rmlab.nodes.audio.Gain" in got["error"]
    assert got["loaded"] == []
    assert got["gain"] == "rmlab.nodes.audio"


def test_lookup_suggests_builtins_it_has_not_imported() -> None:
    got = _run(
        f"""
        from rmlab import ManifestError
        from rmlab.nodes import lookup
        try:
            lookup("Spectrogam")
        except ManifestError as exc:
            out['error'] = str(exc)
        out['loaded'] = {_loaded(HEAVY)}
        """
    )
    assert "did you mean 'Spectrogram'?" in got["error"]
    assert got["loaded"] == []
