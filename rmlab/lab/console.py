"""``Console``: run a pipeline from a notebook and watch it live.

A row of controls (source, executor, Start, Stop, which node the scope and spectrum
show), a status line, an error panel and the live plots, as one ipywidgets ``VBox``.
The status line names the latest error while it is current; Stop clears it, and so
does a clean run after it (the panel keeps every error to read, shown as resolved).

How a run flows (see ``rmlab.lab._run``): the picked source pushes into the run,
which forwards to the session (the browser's microphone is asked to capture by
the same Start, and stopped by Stop); one watcher of the session feeds every output and
every node's hops to the plots, and node errors to the error panel (with the node's
id and traceback). A speaker, if given, watches the session beside it. Watchers run
on the session's pump thread and only append to buffers: the plots' ``Dispatcher``
thread sends at most ``rate`` batched updates a second and refreshes the status line
four times a second, so nothing the page does can slow the audio down.

Live edits: a param edited in the ``Builder`` (or with ``console.set_params``) while
the pipeline runs goes to ``Session.set_params``, which every executor applies
between two frames (the node's ``update``; no restart, no lost frame). An edit of the
pipeline's shape (nodes, connections) hot-swaps the session once the pipeline is
valid: a new session starts behind the running one, then the source switches over
(no gap in the stream; carried state starts over; see ``rmlab.lab._run``).

Threads: JupyterLab runs widget handlers on a kernel subshell thread, concurrently
with cells (Voila on the main thread), so Start and Stop hold one lock, and every
handler reports its exceptions in the error panel instead of letting them vanish.
"""

from __future__ import annotations

import contextlib
import functools
import html
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import ipywidgets as widgets

from rmlab import Manifest, Output, Session, SessionClosed, warm_up
from rmlab._graph import topo_order
from rmlab.events import Event, HopDone, Watcher
from rmlab.lab import _sources
from rmlab.lab._bokeh import ShownWithBokeh
from rmlab.lab._live import param_changes, validated
from rmlab.lab._panels import ErrorLog, headline, status_html
from rmlab.lab._run import Run
from rmlab.lab.plots import Dispatcher, LatencyPlot, ScopePlot, SpectrumPlot, node_colors

__all__ = ["Console"]

F = TypeVar("F", bound=Callable[..., Any])
_STATUS_EVERY = 5  # dispatcher ticks per status refresh (20/s -> 4/s)
_SWAPPING = "the pipeline changed: starting it behind the running one (hot swap)"
_SWAPPED = "the edited pipeline runs now (hot swap)"
_PROBLEMS = "the edited pipeline has problems; still running the last valid one"
_CLEAN_OUTPUTS = 50  # outputs since the last error that make it history (1 s at 50/s)


def _reported(method: F) -> F:
    """Run a widget handler; show its exception in the error panel instead of losing it."""

    @functools.wraps(method)
    def handler(self: Console, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            self._report(exc)
            return None

    return handler  # type: ignore[return-value]


class Console(ShownWithBokeh, widgets.VBox):
    """Start, stop and watch a pipeline: source and executor pickers, status, errors, plots.

    ``manifest_or_builder``: a ``Manifest`` (used as it is when Start is pressed, so
    edits made to it before then count), anything ``Manifest.load`` takes, or a
    ``Builder`` (its current manifest; its edits apply live). ``source``: ``"tone"``,
    ``"noise"``, ``"chirp"``, ``"mic"``, ``"browser"``, a WAV file's path, or a
    ``Source`` object. ``executor``: ``"shm"`` or ``"local"``. ``output``: the node the
    scope and spectrum show (default: the first sink; another node is tapped).
    ``speaker``: a sink to play the shown node's Audio (``Speaker()``,
    ``BrowserSpeaker()``, ``FileSink(path)``), or its own ``node``'s if it has one;
    Start starts it on the run, so it watches the session and each one a hot swap
    brings.
    ``rate``: plot updates per second at most.
    """

    def __init__(
        self,
        manifest_or_builder: Any = None,
        source: Any = "tone",
        *,
        executor: str = "shm",
        output: str | None = None,
        speaker: Any = None,
        plots: bool = True,
        rate: float = 20.0,
    ) -> None:
        self.builder: Any = None
        if hasattr(manifest_or_builder, "on_change") and hasattr(manifest_or_builder, "manifest"):
            self.builder = manifest_or_builder
            self._manifest: Manifest = self.builder.manifest
            self.builder.on_change.append(self._on_builder_change)
        elif isinstance(manifest_or_builder, Manifest):
            self._manifest = manifest_or_builder
        elif manifest_or_builder is None:
            self._manifest = Manifest()
        else:
            self._manifest = Manifest.load(manifest_or_builder)
        given = not isinstance(source, str) and not hasattr(source, "__fspath__")
        self._custom_source = source if given else None
        kind, path = ("custom", "") if given else _sources.kind_of(source)
        self.speaker = speaker
        self._lock = threading.RLock()  # start/stop
        self._run: Run | None = None
        self._source: Any = None
        self._state = "stopped"
        self._note = ""
        self._log = ErrorLog()  # has its own lock: never held while joining threads
        self._log_shown = -1
        self._ticks = 0
        self._last: dict[str, Any] = {}
        self._feed_cpu = 0.0
        # The status line names the latest error until the pipeline runs cleanly again
        # (``_CLEAN_OUTPUTS`` outputs without one) or Stop: then it is history, kept in
        # the panel (shown resolved once it ran cleanly), not on the status line.
        self._outputs = 0  # outputs this run (the pump threads count them)
        self._error: tuple[str, int] | None = None  # the current error, and _outputs then
        self._resolved = False
        self._resolved_shown = False
        self.browser_mic: Any = None

        self.latency, self.scope, self.spectrum = self._make_plots() if plots else (None,) * 3
        self.plots = [p for p in (self.latency, self.scope, self.spectrum) if p is not None]
        self.dispatcher = Dispatcher(self.plots, rate, on_tick=self._on_tick)
        self._build_widgets(kind, path, executor, output)
        warm_up(self.executor_picker.value)  # the first Start then starts as fast as the next
        self.executor_picker.observe(lambda c: warm_up(c["new"]), "value")
        self._refresh_outputs(output)
        self._show_source(kind)
        self._render()

    # -- widgets ----------------------------------------------------------------------

    def _build_widgets(self, kind: str, path: str, executor: str, output: str | None) -> None:
        options = list(_sources.SOURCES)
        if self._custom_source is not None:
            options.insert(0, (f"{type(self._custom_source).__name__} (given)", "custom"))
        self.source_picker = _made(
            widgets.Dropdown, "rm-source", options=options, value=kind, description="source"
        )
        self.file_path = _made(widgets.Text, "rm-file", value=path, placeholder="audio.wav")
        self.executor_picker = _made(
            widgets.ToggleButtons,
            "rm-executor",
            options=[("local", "local"), ("shared memory", "shm")],
            value=executor,
            tooltips=["every node in this kernel", "every node in its own process (iceoryx2)"],
        )
        self.start_button = _made(
            widgets.Button, "rm-start", description="Start", icon="play", button_style="success"
        )
        self.stop_button = _made(
            widgets.Button, "rm-stop", description="Stop", icon="stop", disabled=True
        )
        self.output_picker = _made(widgets.Dropdown, "rm-output", description="show", options=[])
        self._sinks_shown: tuple[str, ...] = ()  # sinks when the picker was last refreshed
        self.source_note = _made(widgets.HTML, "rm-source-note")
        self.status_line = _made(widgets.HTML, "rm-status")
        self.error_panel = _made(widgets.HTML, "rm-errors")
        self._source_box = widgets.VBox([])
        self.source_picker.observe(self._on_source, "value")
        self.output_picker.observe(self._on_output, "value")
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)
        controls = widgets.HBox(
            [self.source_picker, self.file_path, self.executor_picker, self.start_button,
             self.stop_button, self.output_picker],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )  # fmt: skip
        children: list[widgets.Widget] = [controls, self.source_note, self._source_box,
                                          self.status_line, self.error_panel]  # fmt: skip
        if isinstance(self.speaker, widgets.Widget):
            children.insert(3, self.speaker)
        if self.plots:
            assert self.latency and self.scope and self.spectrum
            row = widgets.HBox([self.scope, self.spectrum],
                               layout=widgets.Layout(width="100%"))  # fmt: skip
            for p in (self.scope, self.spectrum):
                p.layout = widgets.Layout(flex="1 1 0", min_width="0")
            children.append(_made(widgets.VBox, "rm-plots", children=[self.latency, row]))
        super().__init__(children)
        self.add_class("rm-console")

    def _make_plots(self) -> tuple[LatencyPlot, ScopePlot, SpectrumPlot]:
        """The plots (``rmlab bench plots`` swaps in its baseline's here)."""
        return LatencyPlot(), ScopePlot(), SpectrumPlot()

    # -- the public API -----------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The pipeline Start runs (the builder's current one, if built from a Builder)."""
        return self.builder.manifest if self.builder is not None else self._manifest

    @property
    def running(self) -> bool:
        return self._run is not None

    @property
    def session(self) -> Session | None:
        """The session running now (it changes when a hot swap completes), or None."""
        return self._run.session if self._run is not None else None

    @property
    def errors(self) -> list[BaseException]:
        """The distinct errors in the panel, oldest first (each the latest of its kind)."""
        return self._log.errors

    @property
    def status(self) -> dict[str, Any]:
        """What the status line shows: ``state``, ``in_fps``, ``out_fps``, ``drops``, ..."""
        run = self._run
        if run is not None:
            self._last = run.status()
            if self._note == _SWAPPING and not run.swapping:
                self._note = _SWAPPED
        error = self._error
        if error is not None and run is not None and self._outputs - error[1] >= _CLEAN_OUTPUTS:
            self._error, self._resolved, error = None, True, None  # it runs cleanly again
        current = error[0] if error is not None else ""
        return {"state": self._state, "note": self._note, "error": current, **self._last}

    def start(self) -> None:
        """Start the source and the pipeline (Start). Errors are shown and raised."""
        with self._lock:
            if self._run is not None:
                return
            try:
                self._start()
            except Exception as exc:
                self._teardown()
                self._state = "stopped"
                self._report(exc)
                raise

    def stop(self) -> None:
        """Stop the source and close the session (Stop). What was plotted stays."""
        with self._lock:
            if self._run is None:
                return
            self._teardown()
            # about the run Stop ended (frames in flight may have failed while it stopped)
            self._note, self._error = "", None
            self._state = "stopped"
            self._render()

    def set_params(self, node_id: str, **params: Any) -> None:
        """Change a node's params, live if it runs (``ManifestError`` if invalid)."""
        if self.builder is not None:
            for name, value in params.items():
                self.builder.set_param(node_id, name, value)  # its on_change applies it
            return
        validated(self._manifest, node_id, params)
        self._manifest.node(node_id).params.update(params)
        self._apply(self._manifest)

    def close(self) -> None:
        """Stop, then close the widgets."""
        self.stop()
        if self.builder is not None and self._on_builder_change in self.builder.on_change:
            self.builder.on_change.remove(self._on_builder_change)
        for w in (*self.plots, self.browser_mic):
            if w is not None:
                w.close()
        super().close()

    @property
    def needs_bokehjs(self) -> bool:  # type: ignore[override]
        return bool(self.plots)

    # -- start and stop -------------------------------------------------------------------

    def _start(self) -> None:
        manifest = Manifest.load(self.manifest.to_dict())  # validated; edits no longer leak in
        self._log.clear()
        self._outputs, self._error, self._resolved = 0, None, False
        self._note = ""
        self._state = "starting"
        self._render()
        source = self._new_source()
        order, sinks = _order_and_sinks(manifest)
        self._run = run = Run(
            manifest, self.executor_picker.value, on_output=self._on_output_frame,
            on_hop=self._on_hop, on_error=self._report, on_end=self._on_end,
            on_input=self.scope.feed_input if self.scope else None,
        )  # fmt: skip
        colors = node_colors(n.id for n in manifest)  # the Builder's graph shows these too
        for p in self.plots:
            p.reset(order, sinks, colors)
        self._refresh_outputs(self.output_picker.value)
        self._tap_shown()
        self.dispatcher.start()
        if self.speaker is not None:
            self.speaker.start(_Shown(run, self))
        self._source = source
        source.start(run)
        if source is self.browser_mic:
            source.capture()  # one Start: the page's microphone starts with the session
        self._state = "running"
        self._set_running(True)
        self._render()

    def _new_source(self) -> Any:
        kind = self.source_picker.value
        if kind == "custom":
            return self._custom_source
        if kind == "browser":
            return self._browser_mic()
        return _sources.make_source(kind, self.file_path.value.strip())

    def _teardown(self) -> None:
        """Stop whatever runs, in dependency order (source, run, plots, speaker)."""
        source, self._source = self._source, None
        run, self._run = self._run, None
        for step in (
            source.stop if source is not None else None,
            run.stop if run is not None else None,
            self.dispatcher.stop,
            self.speaker.stop if self.speaker is not None else None,
        ):
            if step is not None:
                try:
                    step()
                except Exception as exc:
                    self._report(exc)
        if run is not None:
            self._last = run.status()
        self._set_running(False)

    def _on_end(self, reason: str) -> None:
        # a session's pump thread, which stopping joins: hand it to a thread of its own
        def end() -> None:
            with self._lock:
                if self._run is None:
                    return
                self._teardown()
                self._state = "stopped"
                self._note = f"{reason}; press Start to run again"
                self._render()

        threading.Thread(target=end, name="rmlab-console-end", daemon=True).start()

    def _set_running(self, running: bool) -> None:
        self.start_button.disabled = running
        self.stop_button.disabled = not running
        self.source_picker.disabled = running
        self.executor_picker.disabled = running
        self.file_path.disabled = running

    # -- live edits ---------------------------------------------------------------------

    @_reported
    def _on_builder_change(self, change: Any) -> None:
        if getattr(change, "kind", None) == "move":
            return
        self._refresh_outputs(self.output_picker.value)
        self._apply(self.builder.manifest)

    def _apply(self, edited: Manifest) -> None:
        """Bring the running pipeline in line with ``edited``: live, or by a hot swap."""
        run = self._run
        if run is None:
            return
        if edited.problems():
            self._set_note(_PROBLEMS)
            return
        if self._note == _PROBLEMS:  # fixed: whatever follows runs the edited pipeline
            self._set_note("")
        new = Manifest.load(edited.to_dict())
        changes = param_changes(run.manifest, new)
        if changes == {}:
            return
        if changes is not None and not run.swapping:  # a swap in flight would miss them
            try:
                for nid, params in changes.items():
                    run.session.set_params(nid, **params)  # between two frames, any executor
            except SessionClosed:  # replaced meanwhile: the swap below carries them
                pass
            else:
                run.manifest = new
                self._set_note("applied live: " + _describe(changes))
                return
        self._set_note(_SWAPPING)
        new.validate()
        order, sinks = _order_and_sinks(new)
        colors = node_colors(n.id for n in new)
        for p in self.plots:
            p.reset(order, sinks, colors)
        run.taps.intersection_update(order)
        run.swap(new)

    # -- handlers ------------------------------------------------------------------------

    @_reported
    def _on_start(self, _button: Any) -> None:
        with contextlib.suppress(Exception):  # start() already showed it in the error panel
            self.start()

    @_reported
    def _on_stop(self, _button: Any) -> None:
        self.stop()

    @_reported
    def _on_source(self, change: dict[str, Any]) -> None:
        self._show_source(change["new"])

    @_reported
    def _on_output(self, change: dict[str, Any]) -> None:
        for p in (self.scope, self.spectrum):
            if p is not None:
                p.node = change["new"] or None
        self._tap_shown()

    def _on_output_frame(self, out: Output) -> None:
        # the session's pump thread, for every output: keep it cheap
        t0 = time.thread_time()
        self._outputs += 1
        for p in self.plots:
            p.feed(out)
        self._feed_cpu += time.thread_time() - t0

    def _on_hop(self, hop: HopDone) -> None:
        # the session's pump thread, for every process call of every node
        t0 = time.thread_time()
        for p in self.plots:
            p.feed_hop(hop)
        self._feed_cpu += time.thread_time() - t0

    def _shows(self, out: Output) -> bool:
        """Whether the speaker plays ``out``: its own node's, else the shown node's."""
        if getattr(self.speaker, "node", None) is not None:
            return True  # the speaker picks by itself
        shown = self.output_picker.value
        return not shown or out.node_id == shown

    def _on_tick(self) -> None:
        # the dispatcher thread, `rate` times a second
        # Errors render with the status, 4 times a second (a node failing on every frame
        # must not resend its traceback 50 times a second); the first one at once.
        self._ticks += 1
        first_error = self._log.version != self._log_shown and not self.error_panel.value
        if self._ticks % _STATUS_EVERY == 0 or first_error:
            source = self._source
            error = getattr(source, "error", None)
            if isinstance(error, BaseException):  # the source's thread died (a device error)
                source.error = None
                self._report(error)
            self._render()
        run = self._run
        if self.builder is not None:  # the graph's live marks (the canvas sends 4/s at most)
            self.builder.canvas.show_live(run.session if run else None, self._log.errors)

    # -- showing things ---------------------------------------------------------------------

    def _show_source(self, kind: str) -> None:
        self.file_path.layout.display = "" if kind == "file" else "none"
        note, box = "", []
        if kind == "mic":
            problem = _sources.mic_problem()
            note = f"No local microphone: {problem}" if problem else ""
        elif kind == "browser":
            box = [self._browser_mic()]
            note = "Start asks the browser for the microphone, then streams it; Stop ends both."
        self.source_note.value = f"<span>{html.escape(note)}</span>" if note else ""
        self._source_box.children = box

    def _browser_mic(self) -> Any:
        if self.browser_mic is None:
            from rmlab.audio.browser import BrowserMic

            self.browser_mic = BrowserMic(buttons=False)  # the console's Start and Stop drive it
        return self.browser_mic

    def _refresh_outputs(self, wanted: str | None) -> None:
        m = self.manifest
        try:
            if m.problems():  # mid-edit: the ids as they are
                order = tuple(n.id for n in m)
                sinks = tuple(n for n in order if not any(c.source == n for c in m.connections))
            else:
                order, sinks = _order_and_sinks(m)
        except Exception:  # mid-edit: whatever ids there are
            order = sinks = [n.id for n in m]
        options = [*sinks, *(n for n in order if n not in sinks)]
        was_sink = wanted in self._sinks_shown
        if wanted in options and not (was_sink and wanted not in sinks):
            value = wanted
        else:  # new, gone, or a sink that an edit made an inner node: show the sink
            value = options[0] if options else None
        self._sinks_shown = tuple(sinks)
        with self.output_picker.hold_sync():  # one message: a pick in between is not lost
            self.output_picker.options = options
            self.output_picker.value = value

    def _tap_shown(self) -> None:
        run, node = self._run, self.output_picker.value
        graph = run.session.graph if run is not None else None
        if graph is not None and node in graph.order and node not in graph.sinks:
            run.tap(node)

    def _set_note(self, note: str) -> None:
        self._note = note
        self._render()

    def _report(self, exc: BaseException) -> None:
        """Add ``exc`` to the error panel (counted if the same error repeats)."""
        self._log.add(exc)
        self._error, self._resolved = (headline(exc), self._outputs), False
        if self._run is None or not self.dispatcher.running:
            self._render()  # nothing ticks: show it now

    def _render(self) -> None:
        status, source = self.status, self.source_picker.label or ""
        self.status_line.value = status_html(status, self.executor_picker.value, source)
        resolved = self._resolved
        version, markup = self._log.html(resolved)
        if version != self._log_shown or resolved != self._resolved_shown:
            self._log_shown, self._resolved_shown = version, resolved
            self.error_panel.value = markup


class _Shown:
    """What the console's speaker is started on: the run, showing the shown node only.

    A sink needs ``watch`` (and ``closed``, ``backpressure``) of what it is started
    on; the run gives those across hot swaps, and this filter keeps the speaker on
    the node the scope shows (unless the speaker picked its own ``node``), so a tapped
    inner node and the sinks are never played on top of each other.
    """

    def __init__(self, run: Run, console: Console) -> None:
        self._run, self._console = run, console
        self.backpressure = run.backpressure

    @property
    def closed(self) -> bool:
        return self._run.closed

    def watch(self, watcher: Watcher | Callable[[Event], None], *, consumes: bool = False) -> Any:
        return self._run.watch(_OnlyShown(watcher, self._console._shows), consumes=consumes)


class _OnlyShown(Watcher):
    """Passes every event on to ``watcher``, except outputs ``shows`` rejects."""

    def __init__(
        self, watcher: Watcher | Callable[[Event], None], shows: Callable[[Output], bool]
    ) -> None:
        # a sink may watch with a plain function of one event, as Session.watch allows
        self.deliver = watcher.on_event if isinstance(watcher, Watcher) else watcher
        self.shows = shows

    def on_event(self, event: Event) -> None:
        if not isinstance(event, Output) or self.shows(event):
            self.deliver(event)


def _made(kind: type[widgets.Widget], css_class: str, **kwargs: Any) -> Any:
    """A widget with a stable CSS class (what tests and stylesheets select on)."""
    w = kind(**kwargs)
    w.add_class(css_class)
    return w


def _describe(changes: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{nid}.{k} = {v!r}" for nid, p in changes.items() for k, v in p.items())


def _order_and_sinks(m: Manifest) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A valid manifest's node ids in topological order, and its sinks (the plots' lines)."""
    succ: dict[str, list[str]] = {n.id: [] for n in m}
    for c in m.connections:
        succ[c.source].append(c.target)
    order = tuple(topo_order(succ))
    return order, tuple(n for n in order if not succ[n])
