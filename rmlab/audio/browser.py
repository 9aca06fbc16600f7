"""The browser's microphone and speaker, as notebook widgets (anywidget).

On Binder or any remote kernel there is no sound card next to the kernel, but there
is one next to the browser. ``BrowserMic`` captures it in the page (an AudioWorklet
packs 960-sample frames) and sends each frame to the kernel as a binary comm buffer;
the kernel pushes it into a session as ``Audio``. ``BrowserSpeaker`` does the reverse:
it consumes a session's ``Audio`` outputs and sends them to the page, whose
AudioWorklet plays them through a jitter buffer. The front ends are
``widgets/browser_mic.js`` and ``widgets/browser_speaker.js``, each shipped as one ES
module after the helpers in ``widgets/audio_common.js`` (inside the wheel:
``rmlab/_widgets``); their messages are documented at the top of each file.

Both follow the source/sink protocol of ``rmlab.audio._base`` (``start(session)``,
``stop()``, ``wait()``, ``stats()``, context manager) by delegating to a ``Source``
or ``Sink`` they own: a widget is a traitlets object, and mixing the two class trees
would tangle their constructors. One difference: ``error`` is a message (a synced
trait the page shows), not an exception; ``wait()`` still re-raises a thread's.

Threads: JupyterLab 4.6 runs comm handlers on a kernel subshell thread, concurrently
with cells, so the mic's handler only validates, counts and hands the frame over
(``DropOldest``: never waits). The source's own thread calls ``session.push``, which
may wait on a session with ``"block"`` backpressure; when it falls behind, the oldest
frame is dropped and counted, as for any live source.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import deque
from typing import Any, Self

import numpy as np
import traitlets

from rmlab._widget import Widget, widget_file
from rmlab.audio._base import _POLL_S, DropOldest, Sink, Source
from rmlab.data import Audio
from rmlab.errors import DeviceError, SessionError

__all__ = ["BrowserMic", "BrowserSpeaker"]


def _widget_module(name: str) -> str:
    """The ES module of widget file ``name``: the shared helpers, then the widget itself."""
    return "\n".join(widget_file(f).read_text() for f in ("audio_common.js", name))


class _Reporting:
    """Mixin for the owned Source/Sink: whatever ends in ``.error`` also shows in the widget."""

    _widget: Widget
    _error: BaseException | None = None

    @property
    def error(self) -> BaseException | None:
        return self._error

    @error.setter
    def error(self, exc: BaseException | None) -> None:
        self._error = exc
        if exc is not None:
            self._widget._report((str(exc).splitlines() or [repr(exc)])[0])


class _Malformed(ValueError):
    """A message from the page that breaks the protocol (counted, never raised out)."""


class _PageSource(_Reporting, Source):
    """The kernel half of ``BrowserMic``: frames handed over by the comm thread, pushed here."""

    def __init__(self, widget: BrowserMic, queue_size: int):
        self._widget = widget
        super().__init__()
        self.queue_size = queue_size
        self.handoff = DropOldest(queue_size)
        self.lost = 0  # frames taken for a session that had closed

    def _loop(self) -> None:
        # after stop(), push what is already queued: a frame the page sent is not lost
        while True:
            frame = self.handoff.get(_POLL_S)
            if frame is None:
                if self._stop.is_set():
                    return
            elif not self._push(frame):
                self.lost += 1
                while self.handoff.get(0) is not None:
                    self.lost += 1
                self._widget._report(
                    "the session was closed: frames are dropped until mic.start(new_session)"
                )
                return


class BrowserMic(Widget):
    """The browser's microphone as a live source: press Start in the widget to stream.

    ``BrowserMic(session)`` (or ``mic.start(session)``) binds a session; every
    ``frame_size``-sample frame the page captures is pushed into it as mono ``Audio``
    whose ``timestamp_us`` is the capture time of its first sample (UNIX epoch) and
    whose ``metadata["seq"]`` numbers it. Frames that arrive while no session is bound
    are dropped and counted. The page asks for ``sample_rate`` Hz and shows the rate it
    got (``stats()["sample_rate"]``). At most ``queue`` frames wait for the session.

    Problems (permission denied, no device, an insecure page, a broken message, a
    closed session) appear in the widget and in ``error``.

    ``capture()`` starts the page's microphone from the kernel (what the Console's
    Start does, so one click starts both); ``buttons=False`` hides the widget's own
    Start and Stop for such an owner (the level meter and messages stay).
    """

    _esm = _widget_module("browser_mic.js")

    requested_rate = traitlets.Int(48000).tag(sync=True)
    frame_size = traitlets.Int(960).tag(sync=True)
    sample_rate = traitlets.Int(0).tag(sync=True)  # set by the page: the granted rate
    status = traitlets.Unicode("idle").tag(sync=True)  # idle|starting|running|stopped|error
    bound = traitlets.Bool(False).tag(sync=True)
    runs = traitlets.Int(0).tag(sync=True)  # Start presses so far, numbered by the page
    buttons = traitlets.Bool(True).tag(sync=True)  # False: started by its owner (a Console)

    def __init__(
        self,
        session: Any = None,
        *,
        sample_rate: int = 48000,
        frame_size: int = 960,
        queue: int = 32,
        buttons: bool = True,
        **kwargs: Any,
    ):
        super().__init__(
            requested_rate=sample_rate, frame_size=frame_size, buttons=buttons, **kwargs
        )
        self._source = _PageSource(self, queue)
        self._lock = threading.Lock()
        self._received = self._gaps = self._malformed = self._unbound = self._overrun = 0
        self._last: tuple[int, int] | None = None  # (run, seq) of the last frame
        self._arrivals: deque[float] = deque(maxlen=100)
        self._latencies: deque[float] = deque(maxlen=200)
        self.on_msg(self._on_msg)
        if session is not None:
            self.start(session)

    # -- the source protocol ----------------------------------------------------------

    def start(self, session: Any = None) -> Self:
        """Push the page's frames into ``session`` (default: the last one) from now on."""
        session = session if session is not None else self._source.session
        if session is None:
            raise SessionError("BrowserMic.start() needs a session: mic.start(session)")
        if self.running:
            raise SessionError("BrowserMic is already running; stop() it first")
        self._report("")
        self._source.start(session)
        self.bound = True
        return self

    def capture(self) -> None:
        """Ask the page to start the microphone, as the widget's Start button does.

        What lets one click start everything: ``Console``'s Start binds the session,
        then calls this. The browser asks for permission first (its answer, or why it
        cannot ask, shows in the widget). One view captures even if the widget is
        shown twice in the page: the message carries a token the first view claims.
        """
        self._report("")
        self.send({"type": "start", "token": uuid.uuid4().hex})

    def stop(self) -> None:
        """Stop the page's capture and unbind the session (which stays open)."""
        self.send({"type": "stop"})
        self._unbind()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the pushing thread ended (the session closed); see ``Source.wait``."""
        return self._source.wait(timeout)

    @property
    def running(self) -> bool:
        """True while frames from the page go into a session."""
        return self._source.running

    def stats(self) -> dict[str, Any]:
        """``frames`` pushed, ``received`` from the page, ``drops`` (never pushed: no
        session, or the hand-off was full), ``gaps`` (frames missing from the page's
        numbering), ``malformed`` messages, ``errors``, ``rate`` (frames/s arriving over
        the last 2 s), the granted ``sample_rate`` and ``latency_ms`` (median, from a
        frame's last sample captured to its arrival here)."""
        src = self._source
        with self._lock:
            arrivals, latencies = list(self._arrivals), list(self._latencies)
            counts = {
                "received": self._received,
                "drops": sum((self._unbound, self._overrun, src.handoff.dropped, src.lost)),
                "gaps": self._gaps,
                "malformed": self._malformed,
            }
        recent = [t for t in arrivals if t > arrivals[-1] - 2.0] if arrivals else []
        span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
        return {
            **self._source.stats(),
            **counts,
            "rate": round((len(recent) - 1) / span, 2) if span > 0 else 0.0,
            "sample_rate": self.sample_rate,
            "latency_ms": round(statistics.median(latencies), 2) if latencies else None,
        }

    def close(self) -> None:
        """Stop, then close the widget (its views disappear)."""
        if hasattr(self, "_source"):  # also runs from __del__, even after a failed __init__
            self._unbind()
        super().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- messages from the page ---------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        """Runs on the comm thread: validate, count, hand over; never wait, never raise."""
        received = time.time()
        try:
            seq_key, frame = self._parse(content, buffers)
        except _Malformed as exc:
            with self._lock:
                self._malformed += 1
            self._report(f"ignored a bad message from the page: {exc}")
            return
        except Exception as exc:  # a bug here would vanish into the comm thread's log
            self._report(f"BrowserMic could not handle a frame: {exc!r}")
            return
        with self._lock:
            self._count(seq_key, frame, received)
            if self._source.running:
                self._source.handoff.put(frame)  # never waits: drops the oldest when full
            else:
                self._unbound += 1

    def _parse(self, content: Any, buffers: list[Any]) -> tuple[tuple[int, int], Audio]:
        if not isinstance(content, dict) or content.get("type") != "frame":
            raise _Malformed(f"expected a frame message, got {str(content)[:80]}")
        missing = [k for k in ("run", "seq", "t", "rate") if content.get(k) is None]
        if missing:
            raise _Malformed(f"frame message without {', '.join(missing)}")
        run, seq, t, rate = (content[k] for k in ("run", "seq", "t", "rate"))
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
        samples = np.frombuffer(buffers[0], dtype="<f4")  # a view on the message: no copy
        frame = Audio(samples, rate, timestamp_us=round(t * 1000), metadata={"seq": seq})
        return (run, seq), frame

    def _count(self, seq_key: tuple[int, int], frame: Audio, received: float) -> None:
        """Update the counters for an accepted frame (the caller holds the lock)."""
        run, seq = seq_key
        self._received += 1
        same_run = self._last is not None and self._last[0] == run
        self._gaps += max(0, seq - self._last[1] - 1) if same_run else seq  # runs start at 0
        self._last = seq_key
        self._arrivals.append(time.monotonic())
        captured_us = frame.timestamp_us + 1e6 * frame.samples.size / frame.sample_rate
        self._latencies.append((received * 1e6 - captured_us) / 1000)

    def _unbind(self) -> None:
        self._source.stop()
        with self._lock:  # a new start() brings a new hand-off: keep this one's count
            self._overrun += self._source.handoff.dropped
            self._source.handoff = DropOldest(self._source.queue_size)
        self.bound = False


def _check_buffer(min_ms: float, prefill_ms: float, max_ms: float) -> None:
    """Raise ``DeviceError`` unless 0 < min_ms <= prefill_ms <= max_ms / 2."""
    given = f"min_ms={min_ms!r}, prefill_ms={prefill_ms!r}, max_ms={max_ms!r}"
    values = (min_ms, prefill_ms, max_ms)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise DeviceError(f"BrowserSpeaker: buffer sizes must be numbers of ms, got {given}")
    if not all(0 < v < float("inf") for v in values):
        raise DeviceError(f"BrowserSpeaker: buffer sizes must be positive and finite, got {given}")
    if not min_ms <= prefill_ms <= max_ms / 2:
        raise DeviceError(
            f"BrowserSpeaker: need min_ms <= prefill_ms <= max_ms / 2, got {given}: the "
            "target stays between min_ms and max_ms / 2 (so a burst as long as the target "
            "still fits) and starts at prefill_ms; e.g. min_ms=20, prefill_ms=100, max_ms=1000"
        )


class _PageSink(_Reporting, Sink):
    """The kernel half of ``BrowserSpeaker``: each Audio frame it consumes goes to the page."""

    def __init__(self, widget: BrowserSpeaker, node: str | None, on_output: Any):
        self._widget = widget
        super().__init__(node=node, on_output=on_output)
        self._resampler: Any = None
        self._resampling: tuple[int, int, int] | None = None  # (from, to, channels)

    def _close(self) -> None:
        self._resampler = self._resampling = None  # the stream it resampled has ended

    def _write(self, frame: Audio) -> None:
        widget = self._widget
        rate = widget.sample_rate or widget.requested_rate
        samples = frame.samples if frame.sample_rate == rate else self._resample(frame, rate)
        if samples.size:  # empty while the resampler fills its delay line
            header = {
                "type": "audio",
                "rate": rate,
                "channels": frame.channels,
                "t": time.time() * 1e3,
            }
            widget.send(header, buffers=[samples.astype("<f4", copy=False).tobytes()])

    def _resample(self, frame: Audio, rate: int) -> np.ndarray:
        import soxr

        key = (frame.sample_rate, rate, frame.channels)
        if self._resampling != key:  # a new stream format: start afresh
            self._resampler = soxr.ResampleStream(*key, dtype="float32")
            self._resampling = key
        return np.ascontiguousarray(self._resampler.resample_chunk(frame.as_2d())).reshape(-1)


class BrowserSpeaker(Widget):
    """Plays Audio in the page: a session's outputs, or frames passed to ``write()``.

    ``BrowserSpeaker(session)`` (or ``speaker.start(session)``) watches the session, as
    every ``Sink`` does (other consumers still see every output): the Audio frames of
    ``node`` (every node's if None) are sent to the page from the speaker's thread,
    resampled to its rate, and ``on_output(out)`` sees every output it was handed.
    Started without a session it plays what ``write(frame)`` gets.
    Press Start in the widget to hear it (browsers only play audio after a click).

    The page plays through a jitter buffer sized from the arrival jitter it measures:
    its target (the audio queued right after a frame arrives) covers one frame, 1.5
    times the spread of the frames' lateness over the last 10 s and a margin, twice that
    after an underrun and falls back slowly while arrival is steady, always between
    ``min_ms`` and half of ``max_ms``. Playback starts once ``prefill_ms`` (the first
    target) is queued and holds the buffer at the target by playing up to 1% slower or
    0.5% faster, so no audio is lost or repeated to do it. Beyond ``max_ms`` the oldest
    audio is dropped. An underrun is counted each time audio resumes after the queue
    ran dry (a stream that simply ends is not one). The widget shows the underruns,
    the target and the jitter; its counters come back a few times a second, in
    ``stats()``.
    """

    _esm = _widget_module("browser_speaker.js")

    requested_rate = traitlets.Int(48000).tag(sync=True)
    sample_rate = traitlets.Int(0).tag(sync=True)  # set by the page: the rate it plays at
    min_ms = traitlets.Float(20.0).tag(sync=True)
    prefill_ms = traitlets.Float(100.0).tag(sync=True)
    max_ms = traitlets.Float(1000.0).tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)  # idle|playing|stopped|error
    page = traitlets.Dict().tag(sync=True)  # the page's counters, 4 updates a second

    def __init__(
        self,
        session: Any = None,
        *,
        node: str | None = None,
        on_output: Any = None,
        sample_rate: int = 48000,
        min_ms: float = 20.0,
        prefill_ms: float = 100.0,
        max_ms: float = 1000.0,
        **kwargs: Any,
    ):
        _check_buffer(min_ms, prefill_ms, max_ms)
        super().__init__(
            requested_rate=sample_rate,
            min_ms=min_ms,
            prefill_ms=prefill_ms,
            max_ms=max_ms,
            **kwargs,
        )
        self._sink = _PageSink(self, node, on_output)
        if session is not None:
            self.start(session)

    def start(self, session: Any = None) -> Self:
        """Play ``session``'s Audio outputs from now on (None: only ``write()`` plays)."""
        if self.running:
            raise SessionError("BrowserSpeaker is already running; stop() it first")
        self._report("")
        self._sink.start(session)
        return self

    def stop(self) -> None:
        """Stop watching the session (what the page has queued still plays out)."""
        self._sink.stop()

    def write(self, frame: Audio | np.ndarray, sample_rate: int | None = None) -> None:
        """Send one frame to the page: ``Audio``, or float samples with ``sample_rate``."""
        if not isinstance(frame, Audio):
            if sample_rate is None:
                raise DeviceError("write(samples) needs sample_rate= (or pass an Audio frame)")
            frame = Audio(np.asarray(frame, dtype=np.float32), sample_rate)
        self._sink.write(frame)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the session ended and every output was sent; see ``Sink.wait``."""
        return self._sink.wait(timeout)

    @property
    def running(self) -> bool:
        """True while the speaker plays a session's outputs."""
        return self._sink.running

    @property
    def node(self) -> str | None:
        """The node whose Audio is played (None: every node's)."""
        return self._sink.node

    def stats(self) -> dict[str, Any]:
        """``frames`` sent, ``ignored`` outputs, ``errors``, ``drops`` (outputs the
        speaker's thread fell too far behind to send), and the page's last report:
        ``received``, ``not_played`` (arrived before Start), ``underruns``,
        ``buffered_ms``, ``dropped_ms``, ``played_ms``, ``target_ms`` (the buffer's
        current target), ``jitter_ms`` (the measured arrival jitter) and
        ``latency_ms`` (median, kernel send to page receipt)."""
        page = dict(self.page)
        counters = ("underruns", "buffered_ms", "dropped_ms", "played_ms", "jitter_ms")
        return {
            **self._sink.stats(),
            "received": page.get("frames", 0),
            "not_played": page.get("skipped", 0),
            **{k: page.get(k, 0) for k in counters},
            "target_ms": page.get("target_ms", self.prefill_ms),
            "latency_ms": page.get("latency_ms"),
        }

    def close(self) -> None:
        """Stop, then close the widget (its views disappear)."""
        if hasattr(self, "_sink"):  # also runs from __del__, even after a failed __init__
            self.stop()
        super().close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
