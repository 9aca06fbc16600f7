"""``rmlab bench speaker``: BrowserSpeaker playing a tone from the kernel in a real browser.

A 440 Hz tone in 20 ms frames is pushed in real time through a PassThrough session in
a JupyterLab kernel, and a ``BrowserSpeaker`` in headless Chromium plays it (Start is
clicked like a person would). Over ``--seconds``:

- **underruns**: all of them, and those after the first 3 s (before, the buffer has
  measured nothing); frames sent, received and played (they must match: the buffer
  neither loses nor repeats audio) and audio dropped;
- **buffer**: the page's final target and measured jitter, and the median kernel to
  page latency;
- **lateness per hop**: how late each frame is against a steady 20 ms clock (p50, p99,
  max) when the source pushed it, when the speaker's thread sent it, and when it
  reached the page (a WebSocket hook), so the hop that adds the jitter shows.

It needs the test extra (``pip install -e '.[test]'``: JupyterLab, Playwright,
nbformat) and Debian's ``chromium``; the lab is ``rmlab.bench._browser``, which the
browser tests use too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from rmlab.audio.browser import BrowserSpeaker
from rmlab.bench import _browser

__all__ = ["TimedSpeaker", "main", "make"]

FRAME_MS = 20
WARMUP_S = 3
CELL = """\
from rmlab.bench import speaker as _bench
speaker, source = _bench.make({options!r})
speaker
"""

# Time every binary WebSocket message of an audio frame's size as it reaches the page.
_HOOK_JS = """(() => {
  const Native = window.WebSocket;
  window.__rmArrivals = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        const n = e.data instanceof ArrayBuffer ? e.data.byteLength : e.data.size ?? 0;
        if (n > 3840 && n < 3840 + 2000) window.__rmArrivals.push(performance.now());
      });
    }
  };
})();"""


# -- in the kernel ------------------------------------------------------------------------


class TimedSpeaker(BrowserSpeaker):
    """A ``BrowserSpeaker`` that notes when each audio message left for the page."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sent_at: list[float] = []
        super().__init__(*args, **kwargs)

    def send(self, content: Any, buffers: Any = None) -> None:
        super().send(content, buffers=buffers)
        if isinstance(content, dict) and content.get("type") == "audio":
            self.sent_at.append(time.monotonic())


class _TimedPush:
    """What the tone is pushed through: the session, noting when each frame went in."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.pushed_at: list[float] = []
        self._lock = threading.Lock()

    def push(self, frame: Any) -> None:
        with self._lock:
            self.pushed_at.append(time.monotonic())
        self.session.push(frame)

    def play(self, seconds: float) -> None:
        """Push ``seconds`` of the tone in real time, from a thread of its own."""
        from rmlab.audio import ToneSource

        ToneSource(amplitude=0.25, duration=seconds, block=48 * FRAME_MS).start(self)

    def report(self, speaker: TimedSpeaker) -> None:
        """Print the kernel's times as JSON (the driver reads stdout)."""
        print(json.dumps({"pushed": self.pushed_at, "sent": speaker.sent_at}))


def make(options: dict[str, Any]) -> tuple[TimedSpeaker, _TimedPush]:
    """The bench's speaker on a PassThrough session, and the source's entry (in the kernel)."""
    import rmlab

    session = rmlab.open_session(rmlab.Manifest(name="bench-speaker").add("pass", "PassThrough"))
    return TimedSpeaker(session, **options), _TimedPush(session)


# -- the driver ---------------------------------------------------------------------------


def _counters(page: Any) -> dict[str, str]:
    return page.evaluate("() => ({...document.querySelector('.rm-speaker').dataset})")


def _lateness(times_s: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max of how late each frame came against a steady clock, in ms."""
    t = 1000 * np.asarray(times_s, dtype=float)
    late = t - FRAME_MS * np.arange(t.size)
    late -= late.min()
    return float(np.median(late)), float(np.percentile(late, 99)), float(late.max())


def _measure(lab: _browser.Lab, seconds: float, options: dict[str, Any]) -> dict[str, Any]:
    frames = round(seconds * 1000 / FRAME_MS)
    nb = lab.open([CELL.format(options=options)], init_script=_HOOK_JS)
    nb.run_all()
    page = nb.page
    page.click(".rm-speaker-start")
    page.wait_for_selector(".rm-speaker[data-state=playing]")
    nb.wait_for("speaker.sample_rate", 48000, timeout=30)
    nb.execute(f"source.play({seconds})")
    underruns = []  # once a second: the first WARMUP_S tell the warm-up apart
    deadline = time.monotonic() + seconds + 60
    while (c := _counters(page))["frames"] != str(frames) or c["bufferedMs"] != "0":
        if time.monotonic() > deadline:
            raise SystemExit(f"rmlab bench speaker: the page did not play everything: {c}")
        time.sleep(1)
        underruns.append(int(c["underruns"]))
    kernel = json.loads(nb.execute("source.report(speaker)").strip().splitlines()[-1])
    arrivals = [t / 1000 for t in page.evaluate("() => window.__rmArrivals")]
    stats = nb.evaluate("speaker.stats()")
    warm = underruns[min(WARMUP_S, len(underruns)) - 1] if underruns else 0
    return {
        "counters": c,
        "stats": stats,
        "warm": warm,
        "hops": {
            "pushed by the source": _lateness(kernel["pushed"]),
            "sent by the speaker's thread": _lateness(kernel["sent"]),
            "arrived in the page": _lateness(arrivals),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Print the speaker's table (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="rmlab bench speaker", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the tone plays")
    for name in ("min_ms", "prefill_ms", "max_ms"):
        ap.add_argument(f"--{name.replace('_', '-')}", type=float, help=f"BrowserSpeaker {name}")
    args = ap.parse_args(argv)
    if reason := _browser.missing_browser():
        raise SystemExit(f"rmlab bench speaker: {reason}")
    options = {k: getattr(args, k) for k in ("min_ms", "prefill_ms", "max_ms")}
    options = {k: v for k, v in options.items() if v is not None}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="rmlab-bench-speaker-") as tmp:
        home = Path(tmp)
        with (
            _browser.jupyter_lab_server(home / "jupyter") as server,
            _browser.chromium(_browser.write_fake_mic(home / "audio")) as browser,
        ):
            lab = _browser.Lab(browser, server)
            try:
                r = _measure(lab, args.seconds, options)
            finally:
                lab.close()
    c, s = r["counters"], r["stats"]
    print(
        f"\nBrowserSpeaker, {args.seconds:g} s of a 440 Hz tone in {FRAME_MS} ms frames "
        f"(headless Chromium; load {load:.1f} at start, {os.getloadavg()[0]:.1f} at the end)"
    )
    print(
        f"underruns: {c['underruns']} ({r['warm']} in the first {WARMUP_S} s); frames sent "
        f"{s['frames']}, received {c['frames']}, played {c['playedMs']} ms, dropped "
        f"{c['droppedMs']} ms"
    )
    print(
        f"buffer: target {c['targetMs']} ms, jitter {c['jitterMs']} ms; "
        f"kernel->page latency {c.get('latencyMs', '-')} ms median"
    )
    print(f"{'lateness vs a steady clock (ms)':<34} {'p50':>6} {'p99':>6} {'max':>6}")
    for hop, (p50, p99, worst) in r["hops"].items():
        print(f"  {hop:<32} {p50:>6.1f} {p99:>6.1f} {worst:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
