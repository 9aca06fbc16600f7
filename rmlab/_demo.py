"""``rmlab demo``: a live pipeline with no microphone, and its latency, as it runs.

A 440 Hz tone, paced in real time (50 frames of 20 ms per second), flows through
Gain -> Filter -> LevelMeter, every node in its own process on the shared-memory
executor by default. Once a second the per-node and end-to-end latency table is
redrawn (in place on a terminal); Ctrl-C stops it cleanly with a final summary.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rmlab.errors import SessionClosed, Timeout
from rmlab.manifest import Manifest

__all__ = ["demo_manifest", "run_demo"]


def demo_manifest() -> Manifest:
    """The demo's pipeline: gain, low-pass filter, level meter."""
    return (
        Manifest(name="demo", description="A tone through gain, a low-pass filter and a meter")
        .add("gain", "Gain", gain_db=-6.0)
        .add("lowpass", "Filter", kind="lowpass", cutoff_hz=1000.0)
        .add("meter", "LevelMeter")
        .connect("gain", "lowpass")
        .connect("lowpass", "meter")
    )


def run_demo(seconds: float = 10.0, executor: str = "shm", out: TextIO = sys.stdout) -> int:
    """Run the demo for ``seconds`` (0: until Ctrl-C); returns an exit status."""
    from rmlab.audio import ToneSource
    from rmlab.runtime import open_session

    live = out.isatty()
    t_open = time.monotonic()
    session = open_session(demo_manifest(), executor)
    print(
        f"rmlab demo: 440 Hz tone -> gain -> lowpass -> meter on the {executor!r} executor "
        f"(started in {time.monotonic() - t_open:.2f} s); Ctrl-C stops",
        file=out,
    )
    source = ToneSource(440.0, 0.5)
    drawn = 0
    level = None
    try:
        with session, source.start(session):
            t0 = next_draw = time.monotonic()
            while not seconds or time.monotonic() - t0 < seconds:
                try:
                    level = session.pull(timeout=0.5).data.value
                except Timeout:
                    continue
                if time.monotonic() >= next_draw:
                    next_draw += 1.0
                    drawn = _draw(session, level, out, drawn if live else 0)
            source.stop()
            stats = session.stats()
    except KeyboardInterrupt:
        print("\nstopped", file=out)
        stats = session.stats()
    except SessionClosed:
        stats = session.stats()
    print(f"\n{stats}", file=out)
    return 0


def _draw(session, level: dict | None, out: TextIO, erase: int) -> int:
    lines = str(session.stats()).splitlines()
    if level is not None:
        lines.append(f"meter: rms {level['rms_db']:6.1f} dBFS, peak {level['peak_db']:6.1f} dBFS")
    if erase:
        out.write(f"\x1b[{erase}F\x1b[J")  # up to the previous table, then clear below
    out.write("\n".join(lines) + "\n")
    out.flush()
    return len(lines)
