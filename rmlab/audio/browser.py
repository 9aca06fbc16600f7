"""The browser's microphone and speaker, as notebook widgets (anywidget).

On Binder or any remote kernel there is no sound card next to the kernel, but there
is one next to the browser. ``BrowserMic`` captures it in the page (an AudioWorklet
packs 960-sample frames) and sends each frame to the kernel as a binary comm buffer;
the kernel pushes it into a session as ``Audio``. ``BrowserSpeaker`` does the reverse:
a thread pulls a session's ``Audio`` outputs and sends them to the page, whose
AudioWorklet plays them through a jitter buffer. The front ends are
``widgets/browser_mic.js`` and ``widgets/browser_speaker.js`` (shipped inside the
wheel as ``rmlab/_widgets``).

Both follow the audio source/sink protocol: ``start(session)``, ``stop()``, a context
manager and ``stats()``.

Threads: JupyterLab 4.6 runs comm handlers on a kernel subshell thread, concurrently
with cells, so the handlers only validate, count and enqueue. A separate pump thread
calls ``session.push``: a session with ``"block"`` backpressure may make that wait,
and the comm thread must never wait (when the pump falls behind, its oldest frame is
dropped and counted, like any live source).
"""

from __future__ import annotations

import statistics
import threading
import time
import warnings
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

from rmlab.data import Audio
from rmlab.errors import NodeError, SessionClosed, Timeout
from rmlab.runtime.session import Session

__all__ = ["BrowserMic", "BrowserMicStats", "BrowserSpeaker", "BrowserSpeakerStats"]


def _widget_file(name: str) -> Path:
    """The front-end file ``name``: inside the wheel, or in a source checkout."""
    here = Path(__file__).resolve().parent.parent  # the rmlab package
    candidates = (here / "_widgets" / name, here.parent / "widgets" / name)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"rmlab's widget file {name} is missing (looked in {', '.join(map(str, candidates))}); "
        "reinstall rmlab"
    )


class _ShowErrors:
    """IPython swallows exceptions raised while rendering: warn first so they are seen."""

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        try:
            return super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        except Exception as exc:
            warnings.warn(f"{type(self).__name__} failed to render: {exc!r}", stacklevel=2)
            raise


class _Malformed(ValueError):
    """A message from the page that breaks the protocol (counted, never raised out)."""


class _Pump:
    """Calls ``session.push`` on its own thread, holding at most ``size`` frames.

    ``put`` never waits: when the queue is full the oldest frame is dropped and
    counted, so a slow or blocking session cannot stall the comm thread.
    """

    def __init__(self, session: Session, to: str | None, size: int, on_error: Any):
        self.session = session
        self.pushed = 0
        self.dropped = 0
        self.failed = False
        self._to = to
        self._size = size
        self._on_error = on_error
        self._items: deque[Audio] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="rmlab-browser-mic", daemon=True)
        self._thread.start()

    def put(self, frame: Audio) -> None:
        with self._cond:
            if self.failed or self._closing:
                self.dropped += 1
                return
            if len(self._items) >= self._size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(frame)
            self._cond.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Push what is queued, then stop (frames still queued after ``timeout`` are lost)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closing:
                    self._cond.wait()
                if not self._items:
                    return
                frame = self._items.popleft()
            try:
                self.session.push(frame, self._to)
                self.pushed += 1
            except Exception as exc:  # SessionClosed, a bad `to=`: report, then drop the rest
                with self._cond:
                    self.failed = True
                    self.dropped += 1 + len(self._items)
                    self._items.clear()
                self._on_error(f"stopped pushing frames into the session: {exc}")
                return


@dataclass(frozen=True)
class BrowserMicStats:
    """What a ``BrowserMic`` has received and passed on so far."""

    frames: int
    """Frames received from the page."""
    pushed: int
    """Frames handed to the session."""
    drops: int
    """Frames received but never pushed (no session bound, pump full, session closed)."""
    gaps: int
    """Frames missing from the page's sequence numbers (lost between page and kernel)."""
    malformed: int
    """Messages that broke the protocol (wrong buffer size, missing fields)."""
    rate: float
    """Frames per second arriving in the kernel, over the last ~2 s."""
    sample_rate: int
    """The rate the browser granted (0 before the first Start)."""
    latency_ms: float | None
    """Median delay from a frame's last sample being captured to its arrival here."""


@dataclass(frozen=True)
class BrowserSpeakerStats:
    """What a ``BrowserSpeaker`` has sent, and what the page reported back."""

    frames: int
    """Audio frames sent to the page."""
    skipped: int
    """Outputs pulled but not played (not Audio, or from another node)."""
    errors: int
    """``NodeError``s pulled from the session (reported in ``error``)."""
    page: dict[str, Any]
    """The page's own counters: frames, skipped, underruns, buffered_ms, dropped_ms,
    played_ms, latency_ms (kernel send to page receipt, median). Updated 4 times a second."""


class BrowserMic(_ShowErrors, anywidget.AnyWidget):
    """The browser's microphone as a live source: press Start in the widget to stream.

    ``BrowserMic(session)`` (or ``mic.start(session)``) binds a session; every
    960-sample frame the page captures is pushed into it as ``Audio`` whose
    ``timestamp_us`` is the capture time of its first sample (UNIX epoch). Frames
    captured while no session is bound are dropped and counted. ``to=`` pushes to
    one node instead of every source node. The page asks for ``sample_rate`` Hz and
    shows the rate it got; ``stats().sample_rate`` is the granted one.

    Problems (permission denied, no device, an insecure page, a broken message, a
    closed session) appear in the widget and in the ``error`` trait.
    """

    _esm = _widget_file("browser_mic.js")
    _css = _widget_file("rmlab.css")

    requested_rate = traitlets.Int(48000).tag(sync=True)
    frame_size = traitlets.Int(960).tag(sync=True)
    sample_rate = traitlets.Int(0).tag(sync=True)  # set by the page: the granted rate
    status = traitlets.Unicode("idle").tag(sync=True)  # idle|starting|running|stopped|error
    error = traitlets.Unicode("").tag(sync=True)
    bound = traitlets.Bool(False).tag(sync=True)
    runs = traitlets.Int(0).tag(sync=True)  # Start presses so far, numbered by the page

    def __init__(
        self,
        session: Session | None = None,
        *,
        sample_rate: int = 48000,
        frame_size: int = 960,
        to: str | None = None,
        queue_size: int = 32,
        **kwargs: Any,
    ):
        super().__init__(requested_rate=sample_rate, frame_size=frame_size, **kwargs)
        self._to = to
        self._queue_size = queue_size
        self._lock = threading.Lock()
        self._pump: _Pump | None = None
        self._frames = self._gaps = self._malformed = self._unbound = self._lost = 0
        self._pushed_before = 0  # frames pushed by earlier pumps (start/stop cycles)
        self._session: Session | None = None  # the last one bound, for start() again
        self._last: tuple[int, int] | None = None  # (run, seq) of the last frame
        self._arrivals: deque[float] = deque(maxlen=100)
        self._latencies: deque[float] = deque(maxlen=200)
        self.on_msg(self._on_msg)
        if session is not None:
            self.start(session)

    # -- the source protocol --------------------------------------------------------

    def start(self, session: Session | None = None) -> BrowserMic:
        """Push the page's frames into ``session`` from now on; returns ``self``."""
        session = session if session is not None else self._session
        if session is None:
            raise TypeError("BrowserMic.start() needs a session: mic.start(session)")
        self._unbind()
        with self._lock:
            self._session = session
            self._pump = _Pump(session, self._to, self._queue_size, self._report)
        self.bound = True
        return self

    def stop(self) -> None:
        """Stop the page's capture and unbind the session (the session stays open)."""
        self.send({"type": "stop"})
        self._unbind()

    def stats(self) -> BrowserMicStats:
        """Counts so far, the arrival rate and the page-to-kernel latency."""
        with self._lock:
            pump = self._pump
            arrivals = list(self._arrivals)
            latencies = list(self._latencies)
            frames, gaps, malformed = self._frames, self._gaps, self._malformed
            drops = self._unbound + self._lost + (pump.dropped if pump else 0)
            pushed = self._pushed_before + (pump.pushed if pump else 0)
        recent = [t for t in arrivals if t > arrivals[-1] - 2.0] if arrivals else []
        span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
        return BrowserMicStats(
            frames=frames,
            pushed=pushed,
            drops=drops,
            gaps=gaps,
            malformed=malformed,
            rate=(len(recent) - 1) / span if span > 0 else 0.0,
            sample_rate=self.sample_rate,
            latency_ms=statistics.median(latencies) if latencies else None,
        )

    def __enter__(self) -> BrowserMic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- messages from the page -------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        """Runs on the comm thread: validate, count, enqueue; never wait, never raise."""
        received = time.time()
        try:
            run, seq, frame = self._parse(content, buffers)
        except _Malformed as exc:
            with self._lock:
                self._malformed += 1
            self._report(f"ignored a bad message from the page: {exc}")
            return
        except Exception as exc:  # a bug here would vanish into the comm thread's log
            self._report(f"BrowserMic could not handle a frame: {exc!r}")
            return
        with self._lock:
            self._count(run, seq, frame, received)
            pump = self._pump
            if pump is None:
                self._unbound += 1
        if pump is not None:
            pump.put(frame)

    def _parse(self, content: Any, buffers: list[Any]) -> tuple[int, int, Audio]:
        if not isinstance(content, dict) or content.get("type") != "frame":
            raise _Malformed(f"expected a frame message, got {str(content)[:80]}")
        fields = {k: content.get(k) for k in ("run", "seq", "t", "rate")}
        missing = [k for k, v in fields.items() if v is None]
        if missing:
            raise _Malformed(f"frame message without {', '.join(missing)}")
        run, seq, t, rate = fields.values()
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (run, seq, rate)):
            raise _Malformed(f"run, seq and rate must be integers, got {run!r}, {seq!r}, {rate!r}")
        if not isinstance(t, int | float) or rate <= 0:
            raise _Malformed(f"bad timestamp {t!r} or sample rate {rate!r}")
        if len(buffers) != 1:
            raise _Malformed(f"a frame needs exactly 1 buffer, got {len(buffers)}")
        nbytes = memoryview(buffers[0]).nbytes
        if nbytes != 4 * self.frame_size:
            raise _Malformed(
                f"frame {seq} has {nbytes} bytes, expected {4 * self.frame_size} "
                f"({self.frame_size} float32 samples)"
            )
        samples = np.frombuffer(buffers[0], dtype="<f4")  # a view: no copy
        frame = Audio(samples, rate, timestamp_us=round(t * 1000), metadata={"seq": seq})
        return run, seq, frame

    def _count(self, run: int, seq: int, frame: Audio, received: float) -> None:
        """Update counters for an accepted frame (caller holds the lock)."""
        self._frames += 1
        if self._last is not None and self._last[0] == run:
            self._gaps += max(0, seq - self._last[1] - 1)
        else:
            self._gaps += seq  # a new run starts at 0
        self._last = (run, seq)
        self._arrivals.append(time.monotonic())
        captured_end_us = frame.timestamp_us + 1e6 * self.frame_size / frame.sample_rate
        self._latencies.append((received * 1e6 - captured_end_us) / 1000)

    # -- helpers -------------------------------------------------------------------------

    def _unbind(self) -> None:
        with self._lock:
            pump, self._pump = self._pump, None
        if pump is not None:
            pump.close()
            with self._lock:
                self._lost += pump.dropped
                self._pushed_before += pump.pushed
        self.bound = False

    def _report(self, message: str) -> None:
        # set only on change: a page sending 50 bad frames a second must not flood the comm
        if self.error != message:
            self.error = message


class BrowserSpeaker(_ShowErrors, anywidget.AnyWidget):
    """Plays a session's ``Audio`` outputs in the page: press Start in the widget.

    ``BrowserSpeaker(session)`` (or ``speaker.start(session)``) starts a thread that
    pulls the session's outputs (only node ``node``'s, if given) and sends each
    ``Audio`` frame to the page, resampled to the page's rate. ``play(audio)`` sends
    one frame directly. The page keeps ``latency_ms`` of audio queued before it
    starts playing and never more than ``max_latency_ms``; its counters (frames,
    underruns, buffered ms) come back in ``page`` and ``stats().page``.

    The thread consumes outputs: other readers of the same session see only what it
    skips past. Use a tap or a dedicated sink node when several consumers need them.
    """

    _esm = _widget_file("browser_speaker.js")
    _css = _widget_file("rmlab.css")

    requested_rate = traitlets.Int(48000).tag(sync=True)
    sample_rate = traitlets.Int(0).tag(sync=True)  # set by the page: the rate it plays at
    latency_ms = traitlets.Float(60.0).tag(sync=True)
    max_latency_ms = traitlets.Float(300.0).tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)  # idle|playing|stopped|error
    error = traitlets.Unicode("").tag(sync=True)
    page = traitlets.Dict().tag(sync=True)  # the page's counters, 4 updates a second

    def __init__(
        self,
        session: Session | None = None,
        *,
        node: str | None = None,
        sample_rate: int = 48000,
        latency_ms: float = 60.0,
        max_latency_ms: float = 300.0,
        **kwargs: Any,
    ):
        super().__init__(
            requested_rate=sample_rate,
            latency_ms=latency_ms,
            max_latency_ms=max(max_latency_ms, 2 * latency_ms),
            **kwargs,
        )
        self.node = node
        self._lock = threading.Lock()
        self._resamplers: dict[tuple[int, int, int], Any] = {}
        self._sent = self._skipped = self._errors = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._session: Session | None = None
        if session is not None:
            self.start(session)

    def start(self, session: Session | None = None) -> BrowserSpeaker:
        """Pull ``session``'s outputs on a background thread and play them; returns ``self``."""
        session = session if session is not None else self._session
        if session is None:
            raise TypeError("BrowserSpeaker.start() needs a session: speaker.start(session)")
        self.stop()
        self._session, self._stop = session, threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(session, self._stop), name="rmlab-browser-speaker", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pulling (what the page has queued still plays out)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def play(self, audio: Audio | np.ndarray, sample_rate: int | None = None) -> None:
        """Send one frame to the page: ``Audio``, or float samples with ``sample_rate``."""
        if not isinstance(audio, Audio):
            if sample_rate is None:
                raise TypeError("play(samples) needs sample_rate= (or pass an Audio frame)")
            audio = Audio(np.asarray(audio, dtype=np.float32), sample_rate)
        rate = self.sample_rate or self.requested_rate
        samples = self._resample(audio, rate)
        if samples.size == 0:
            return  # the resampler is still filling its delay line
        header = {"type": "audio", "rate": rate, "channels": audio.channels, "t": time.time() * 1e3}
        self.send(header, buffers=[samples.astype("<f4", copy=False).tobytes()])
        with self._lock:
            self._sent += 1

    def stats(self) -> BrowserSpeakerStats:
        """Frames sent and skipped here, and the page's last report."""
        with self._lock:
            return BrowserSpeakerStats(self._sent, self._skipped, self._errors, dict(self.page))

    def __enter__(self) -> BrowserSpeaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the pulling thread ----------------------------------------------------------

    def _run(self, session: Session, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                out = session.pull(timeout=0.1)
            except Timeout:
                continue
            except SessionClosed:
                return
            except NodeError as exc:
                with self._lock:
                    self._errors += 1
                self.error = str(exc).splitlines()[0]
                continue
            if not isinstance(out.data, Audio) or (self.node and out.node_id != self.node):
                with self._lock:
                    self._skipped += 1
                continue
            try:
                self.play(out.data)
            except Exception as exc:  # shown in the widget: this thread has no one to raise to
                self.error = f"BrowserSpeaker could not send a frame: {exc!r}"

    def _resample(self, audio: Audio, rate: int) -> np.ndarray:
        if audio.sample_rate == rate:
            return audio.samples
        import soxr

        key = (audio.sample_rate, rate, audio.channels)
        with self._lock:
            stream = self._resamplers.get(key)
            if stream is None:
                stream = self._resamplers[key] = soxr.ResampleStream(*key, dtype="float32")
        x = audio.samples.reshape(-1, audio.channels)
        return np.ascontiguousarray(stream.resample_chunk(x)).reshape(-1)
