"""Reliability of the shared-memory executor under kills, load, many sessions and Ctrl-C."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rmlab import (
    Audio,
    Binary,
    Json,
    Manifest,
    NodeCrashed,
    Numpy,
    Text,
    Timeout,
    open_session,
)
from rmlab.wire import encode

from . import nodes  # noqa: F401  # registers the S* test nodes
from .conftest import alive as _alive
from .conftest import session_leftovers

pytestmark = [pytest.mark.shm, pytest.mark.usefixtures("no_leaks")]
ROOT = Path(__file__).parents[2]
DTYPES = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]  # fmt: skip


def test_kill_9_mid_stream_then_the_flow_resumes() -> None:
    m = Manifest().add("a", "SPid").add("out", "PassThrough").connect("a", "out")
    m.node("a").restart = {"policy": "on-failure", "max_restarts": 2}
    with open_session(m, "shm") as s:
        stop = threading.Event()

        def feed() -> None:
            while not stop.is_set():
                with contextlib.suppress(Exception):
                    s.push(0)
                time.sleep(0.01)

        pusher = threading.Thread(target=feed, daemon=True)
        pusher.start()
        try:
            victim = s.pull(timeout=10).data.value
            os.kill(victim, signal.SIGKILL)
            t0 = time.monotonic()
            crashed_after = None
            resumed_after = None
            while time.monotonic() - t0 < 5 and resumed_after is None:
                try:
                    pid = s.pull(timeout=0.5).data.value
                except NodeCrashed as exc:
                    assert exc.node_id == "a" and exc.signal == signal.SIGKILL
                    crashed_after = time.monotonic() - t0
                except Timeout:
                    continue
                else:
                    if pid != victim:
                        resumed_after = time.monotonic() - t0
        finally:
            stop.set()
            pusher.join()
    assert crashed_after is not None and crashed_after < 1.0, crashed_after
    assert resumed_after is not None and resumed_after < 2.0, resumed_after


def test_sigkill_of_the_owner_leaves_no_orphans(tmp_path: Path) -> None:
    script = tmp_path / "kernel.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            sys.path.insert(0, {str(ROOT)!r})
            import tests.shm.nodes
            from rmlab import Manifest, open_session
            m = Manifest()
            for i in range(5):
                m.add(f"n{{i}}", "SPid")
            s = open_session(m, "shm")
            s.push(0)
            print(s.session_id, flush=True)
            print(sorted(s.pull(timeout=10).data.value for _ in range(5)), flush=True)
            time.sleep(60)
            """
        )
    )
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    sid = owner.stdout.readline().strip()  # type: ignore[union-attr]
    pids = eval(owner.stdout.readline())  # type: ignore[union-attr]
    assert len(pids) == 5
    owner.kill()
    owner.wait()
    owner.stdout.close()  # type: ignore[union-attr]
    t0 = time.monotonic()
    while any(_alive(p) for p in pids) and time.monotonic() - t0 < 2.0:
        time.sleep(0.02)
    assert not any(_alive(p) for p in pids), "workers outlived their owner by 2 s"
    assert session_leftovers(sid), "a SIGKILLed session cannot clean up after itself"
    with open_session(Manifest().add("p", "PassThrough"), "shm") as s:
        s.push(1)
        assert s.pull(timeout=10).data.value == 1
    assert not session_leftovers(sid), "the next session start removes what it left"


def _frame(i: int):
    """Frame ``i`` of the stress stream, regenerated identically by the checker."""
    rng = random.Random(i)
    kind = rng.random()
    if kind < 0.55:
        dtype = np.dtype(rng.choice(DTYPES))
        big = rng.random() < 0.004  # a few frames of up to 8 MB
        n = rng.randint(1, (8 << 20) // dtype.itemsize) if big else rng.randint(0, 2000)
        g = np.random.default_rng(i)
        a = (g.integers(0, 2, n) if dtype.kind == "b" else g.integers(0, 100, n)).astype(dtype)
        if n >= 6 and rng.random() < 0.5:
            a = a[: n - n % 6].reshape(-1, 6)
            if rng.random() < 0.5:
                a = np.asfortranarray(a)
        return Numpy(a)
    if kind < 0.75:
        g = np.random.default_rng(i)
        ch = rng.choice([1, 2])
        return Audio(g.standard_normal(960 * ch).astype(np.float32), 48000, ch)
    if kind < 0.85:
        return Text("é" * rng.randint(0, 50), channel=rng.choice(["tts", "chat"]))
    if kind < 0.95:
        return Json({"i": i, "xs": [rng.random() for _ in range(rng.randint(0, 5))]})
    return Binary(rng.randbytes(rng.randint(0, 3000)))


def _digest(data) -> str:
    return hashlib.blake2b(
        encode(data.replace(timestamp_us=0, session_id="")), digest_size=16
    ).hexdigest()


def test_ten_thousand_random_frames_arrive_intact_and_in_order() -> None:
    n = 10_000
    m = (
        Manifest()
        .add("src", "PassThrough")
        .add("left", "PassThrough")
        .add("right", "PassThrough")
        .add("join", "PassThrough")
        .connect("src", "left")
        .connect("src", "right")
        .connect("left", "join")
        .connect("right", "join")
    )
    with open_session(m, "shm", backpressure="block", queue_size=8,
                      max_frame_bytes=16 << 20) as s:  # fmt: skip
        errors: list[BaseException] = []

        def feed() -> None:
            try:
                for i in range(n):
                    s.push(_frame(i).replace(timestamp_us=i + 1))
                s.end()
            except BaseException as exc:  # surfaced by the main thread
                errors.append(exc)

        pusher = threading.Thread(target=feed)
        pusher.start()
        seen = {"left": 0, "right": 0}
        for out in s:
            path = out.trace.hops[1].node_id
            i = seen[path]
            assert out.data.timestamp_us == i + 1, f"{path}: frame {i} out of order"
            assert _digest(out.data) == _digest(_frame(i)), f"{path}: frame {i} differs"
            seen[path] = i + 1
        pusher.join()
        assert not errors, errors
        assert s.stats().drops == {}
    assert seen == {"left": n, "right": n}


def test_twenty_sessions_at_once_do_not_cross_talk() -> None:
    m = Manifest().add("p", "PassThrough")
    sessions = [open_session(m, "shm", backpressure="block") for _ in range(20)]
    try:
        for k, s in enumerate(sessions):
            for j in range(5):
                s.push({"session": k, "j": j})
        for k, s in enumerate(sessions):
            got = [s.pull(timeout=10).data.value for _ in range(5)]
            assert got == [{"session": k, "j": j} for j in range(5)]
    finally:
        for s in sessions:
            s.close()


def test_ctrl_c_interrupts_a_waiting_pull_in_a_script(tmp_path: Path) -> None:
    script = tmp_path / "wait.py"
    script.write_text(
        textwrap.dedent(
            """
            from rmlab import Manifest, open_session
            with open_session(Manifest().add("p", "PassThrough"), "shm") as s:
                print("waiting", flush=True)
                try:
                    s.pull()
                except KeyboardInterrupt:
                    print("interrupted", flush=True)
            """
        )
    )
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "waiting"  # type: ignore[union-attr]
    time.sleep(0.2)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=10)
    assert "interrupted" in out and time.monotonic() - t0 < 2.0
    assert p.returncode == 0


def test_ctrl_c_interrupts_a_waiting_pull_in_a_jupyter_kernel() -> None:
    jupyter_client = pytest.importorskip("jupyter_client")
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        kc.execute_interactive(
            "from rmlab import Manifest, open_session\n"
            "s = open_session(Manifest().add('p', 'PassThrough'), 'shm')",
            timeout=60,
        )
        msg_id = kc.execute("s.pull()")
        time.sleep(1.0)
        t0 = time.monotonic()
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=10)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=10)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - t0 < 2.0
        kc.execute_interactive("s.close()", timeout=30)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
