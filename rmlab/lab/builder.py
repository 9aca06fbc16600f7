"""``Builder``: build a pipeline manifest in a notebook by drag and drop.

The Builder is an ipywidgets ``VBox`` of three parts (the canvas on top, the others
below it):

- the canvas, ``GraphCanvas``: an anywidget whose front end (``widgets/graph.js``)
  draws the node palette, the SVG graph, the problem list and the error line;
- the parameter form: ipywidgets made from the selected node's ``Param``s
  (``rmlab.lab._builder_form``);
- import/export: the manifest as JSON and as Python code, and a box to load JSON;
- Save and Open: the manifest as a JSON file next to the notebook (the kernel's
  working directory), so a class can be handed a starting pipeline. The kernel reads
  and writes the files, never the browser: it works the same in JupyterLab, Voila and
  on Binder, and a file is validated before it replaces the graph.

Python is the authority. The page never changes the graph by itself: it sends edit
requests as custom messages, Python applies each to ``builder.manifest`` or refuses
it, then sends the whole graph back (``GraphCanvas.graph``). The graph carries a
revision that grows on every sync, so the page always redraws and drops whatever
half-done drag it showed. An edit is refused, leaving the manifest as it was and the
reason in the error line, when it would add a problem the manifest did not have (an
unknown type, a duplicate id, a bad param value, a cycle, an edge whose data its
target does not accept). Problems the manifest already had (one passed in from
Python) are shown on their node or edge, never silently dropped.

The page's messages and the synced traits are documented in
``rmlab.lab._builder_canvas``, which also dispatches the messages. Every applied
edit is one step of ``undo``/``redo`` (Ctrl-Z, Ctrl-Shift-Z in the canvas), kept here
as manifest snapshots (``rmlab.lab._builder_history``).

Threads: with JupyterLab 4.6 comm handlers run on a kernel subshell thread,
concurrently with cells, so every edit holds one lock from its check to its sync.
``on_change`` callbacks run after the lock is released, on the thread that made the
edit (a cell's, or the comm handler's).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from rmlab import Manifest, ManifestError, NodeSpec
from rmlab.lab import _builder_state as state
from rmlab.lab._builder_canvas import GraphCanvas, Malformed, dispatch
from rmlab.lab._builder_form import ParamForm, param_key, param_value
from rmlab.lab._builder_history import History, merge_key, snapshot
from rmlab.nodes import Node, lookup, plain

__all__ = ["Builder", "Change", "GraphCanvas"]

_MISSING: Any = object()
_REQUIRED = "required parameter is missing"  # Manifest's words: allowed on a new node
_RED = "var(--jp-error-color1, #c62828)"  # JupyterLab's error colour, or a plain red


@dataclass(frozen=True)
class Change:
    """One applied edit, as passed to each ``Builder.on_change`` callback.

    ``kind`` is ``add``, ``remove``, ``connect``, ``disconnect``, ``move``,
    ``rename`` (``value`` is the new id), ``set_param`` (``param`` and ``value``),
    ``load``, ``undo``, ``redo`` or ``refresh`` (the manifest may have changed anywhere).
    """

    kind: str
    node_id: str | None = None
    param: str | None = None
    value: Any = None
    edge: tuple[str, str] | None = None

    @property
    def structural(self) -> bool:
        """True when the pipeline's shape may have changed (a running session must
        restart); False for ``set_param`` (pushable live) and ``move`` (layout only)."""
        return self.kind not in ("set_param", "move")


class Builder(widgets.VBox):
    """Build a pipeline manifest by drag and drop: palette, canvas, param form, export.

    ``Builder()`` starts empty; ``Builder(manifest)`` edits that ``Manifest`` in place
    (shown even if invalid, its problems placed on their nodes and edges);
    ``Builder(path_or_json_or_dict)`` loads one. ``builder.manifest`` is always the
    current manifest. Edit it through the methods below (each validates, re-renders
    and calls ``on_change``), or edit ``builder.manifest`` directly and call
    ``refresh()``. Invalid edits raise ``ManifestError`` and change nothing.
    """

    def __init__(
        self, manifest: Manifest | str | os.PathLike[str] | Mapping[str, Any] | None = None
    ):
        if manifest is None:
            manifest = Manifest()
        elif not isinstance(manifest, Manifest):
            manifest = Manifest.load(manifest)
        self._manifest = manifest
        self.on_change: list[Callable[[Change], None]] = []
        """Called with a ``Change`` after every applied edit (a Console pushes live params)."""
        self._lock = threading.RLock()
        self._rev = 0
        self._history = History()
        self.canvas = GraphCanvas(layout=widgets.Layout(width="100%"))
        self._form = ParamForm(self._form_param, self._form_rename)
        self._json = self._pre("rm-export-json")
        self._code = self._pre("rm-export-code")
        self._import = widgets.Textarea(
            placeholder="Paste a manifest's JSON (or a file path), then press Load",
            layout=widgets.Layout(width="100%", height="160px"),
        )
        self._import.add_class("rm-import-json")
        self._load = widgets.Button(description="Load", tooltip="replace the graph with this one")
        self._load.add_class("rm-import-load")
        self._import_status = widgets.HTML()  # why a paste was refused, under the box
        self._import_status.add_class("rm-import-status")
        io = widgets.Accordion(
            [self._json, self._code, widgets.VBox([self._import, self._load, self._import_status])],
            titles=("Manifest JSON", "Python code", "Load JSON"),
            layout=widgets.Layout(flex="1 1 auto", min_width="0"),
        )
        io.add_class("rm-io")
        files = self._file_row()
        # the canvas gets the whole width (notebooks are narrow); form and exports below it
        form_row = widgets.HBox([self._form, io])
        form_row.add_class("rm-form-row")  # (a Lab lays its parts out by these classes)
        super().__init__([self.canvas, files, form_row])
        self.add_class("rm-builder")
        self.canvas.on_msg(self._on_message)
        self.canvas.observe(self._on_select, "selected")
        self.canvas.observe(self._on_query, "palette_query")
        self._load.on_click(self._on_load)
        self.refresh(notify=False)

    def _file_row(self) -> widgets.VBox:
        """Save and Open: a file-name box, the JSON files next to the notebook, and a
        line under them saying what happened (a refused file is explained there, where
        the person is looking, not only in the error line at the top)."""
        self.folder: Path | None = None
        """Where Save and Open look (None: the kernel's working directory, which is the
        notebook's folder in JupyterLab and Voila)."""
        self._file_name = widgets.Text(
            placeholder="pipeline.json", description="file", layout=widgets.Layout(width="260px")
        )
        self._save = widgets.Button(description="Save", icon="save", tooltip="write the file")
        self._files = widgets.Dropdown(description="open", layout=widgets.Layout(width="260px"))
        self._open = widgets.Button(description="Open", icon="folder-open",
                                    tooltip="replace the graph with this file")  # fmt: skip
        self._rescan = widgets.Button(icon="refresh", tooltip="list the folder's JSON files again",
                                      layout=widgets.Layout(width="36px"))  # fmt: skip
        self._file_status = widgets.HTML()
        for w, css in (
            (self._file_name, "rm-file-name"),
            (self._save, "rm-file-save"),
            (self._files, "rm-file-list"),
            (self._open, "rm-file-open"),
            (self._rescan, "rm-file-rescan"),
            (self._file_status, "rm-file-status"),
        ):
            w.add_class(css)
        self._file_name.observe(self._on_file_name, "value")
        self._save.on_click(self._on_save)
        self._open.on_click(self._on_open)
        self._rescan.on_click(lambda _b: self._list_files())
        self._replace: Path | None = None  # a file Save was pressed for once: the next replaces it
        self._list_files()
        self._file_name.value = self.default_file_name()
        row = widgets.HBox(
            [self._file_name, self._save, self._files, self._open, self._rescan],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        box = widgets.VBox([row, self._file_status])
        box.add_class("rm-files")
        return box

    @staticmethod
    def _pre(cls: str) -> widgets.HTML:
        w = widgets.HTML(layout=widgets.Layout(width="100%"))
        w.add_class(cls)
        return w

    # -- the public API ---------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The manifest being built (the same object throughout; ``load`` refills it)."""
        return self._manifest

    @property
    def selected(self) -> str | None:
        """The id of the node selected in the canvas (its params are in the form)."""
        return self.canvas.selected or None

    def select(self, node_id: str | None) -> None:
        """Select a node (``None``: nothing), as a click in the canvas does."""
        if node_id is not None:
            self._manifest.node(node_id)
        self.canvas.selected = node_id or ""

    @property
    def error(self) -> str:
        """The message in the widget's error line ("" when the last edit succeeded)."""
        return self.canvas.error

    def problems(self) -> list[tuple[str, str]]:
        """The manifest's problems as ``(json_path, message)``, as shown in the widget."""
        return self._manifest.problems()

    def palette(self, query: str = "") -> dict[str, list[type[Node]]]:
        """The node classes the palette lists for ``query``, by group (see ``_builder_state``)."""
        return state.palette(query)

    def add_node(
        self,
        node_type: str | type[Node],
        node_id: str | None = None,
        /,
        *,
        position: tuple[float, float] | None = None,
        **params: Any,
    ) -> str:
        """Add a node; returns its id (by default made from the type: ``gain``, ``gain_2``).

        Without ``position`` it goes to the next free slot. Params the node requires
        but were not given are allowed, and shown as problems until set.
        """
        if isinstance(node_type, type) and issubclass(node_type, Node):
            node_type = node_type.node_type
        m = self._manifest

        def auto_id(t: str) -> str:
            return state.auto_id(t, (n.id for n in m.nodes))

        def apply() -> Change:
            nid = node_id if node_id is not None else auto_id(node_type)
            x, y = position if position is not None else state.place(state.layout(m).values())
            spec = NodeSpec(nid, node_type, {k: plain(v) for k, v in params.items()})
            spec.position = _position(x, y)
            path = f"nodes[{len(m.nodes)}].params."
            self._keep_if_valid(
                lambda: m.nodes.append(spec),
                m.nodes.pop,
                allowed=lambda p: p[0].startswith(path) and p[1] == _REQUIRED,
            )
            return Change("add", nid)

        return self._edit(f"add a {node_type}", apply).node_id  # type: ignore[return-value]

    def remove(self, node_id: str) -> None:
        """Remove a node and its connections."""

        def apply() -> Change:
            self._manifest.remove(node_id)
            if self.canvas.selected == node_id:
                self.canvas.selected = ""
            return Change("remove", node_id)

        self._edit(f"remove {node_id}", apply)

    def connect(self, source: str, target: str) -> None:
        """Connect ``source``'s output to ``target``'s input (refused: cycles, type mismatches)."""
        m = self._manifest

        def apply() -> Change:
            self._keep_if_valid(lambda: m.connect(source, target), m.connections.pop)
            return Change("connect", edge=(source, target))

        self._edit(f"connect {source} -> {target}", apply)

    def disconnect(self, source: str, target: str) -> None:
        """Remove the connection ``source -> target``."""

        def apply() -> Change:
            self._manifest.disconnect(source, target)
            return Change("disconnect", edge=(source, target))

        self._edit(f"disconnect {source} -> {target}", apply)

    def move(self, node_id: str, x: float, y: float) -> None:
        """Put a node's top-left corner at ``(x, y)`` (saved as its ``position``)."""

        def apply() -> Change:
            spec = self._manifest.node(node_id)
            spec.position = {**(spec.position or {}), **_position(x, y)}
            return Change("move", node_id, value=dict(spec.position))

        self._edit(f"move {node_id}", apply)

    def rename(self, node_id: str, new_id: str) -> None:
        """Give a node another id (its connections follow)."""
        m = self._manifest

        def apply() -> Change:
            spec = m.node(node_id)
            i = next(i for i, n in enumerate(m.nodes) if n is spec)
            if not isinstance(new_id, str) or not new_id.strip():
                raise ManifestError([(f"nodes[{i}].id", "must be a non-empty string")])
            if new_id != node_id and any(n.id == new_id for n in m.nodes):
                raise ManifestError([(f"nodes[{i}].id", f"id {new_id!r} is taken")])
            spec.id = new_id
            for c in m.connections:
                c.source = new_id if c.source == node_id else c.source
                c.target = new_id if c.target == node_id else c.target
            if self._form.node_id == node_id:
                self._form.set_id(new_id)  # the form stays open: it now edits new_id
            if self.canvas.selected == node_id:
                self.canvas.selected = new_id
            return Change("rename", node_id, value=new_id)

        def settle() -> None:  # a refused id: the box shows the real one again
            if self._form.node_id is not None:
                self._form.set_id(self._form.node_id)

        self._edit(f"rename {node_id}", apply, settle)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        """Set one param of a node (validated against its ``Param``; applied live)."""
        m = self._manifest

        def apply() -> Change:
            spec = m.node(node_id)
            key = param_key(spec, name)
            old = spec.params.get(key, _MISSING)

            def undo() -> None:
                if old is _MISSING:
                    del spec.params[key]
                else:
                    spec.params[key] = old

            self._keep_if_valid(lambda: spec.params.__setitem__(key, plain(value)), undo)
            canonical = _canonical(spec.node_type, name)
            return Change("set_param", node_id, param=canonical, value=spec.params[key])

        def settle() -> None:  # accepted or refused, the form shows what the manifest holds
            if self._form.node_id == node_id:
                spec = m.node(node_id)
                canonical = _canonical(spec.node_type, name)
                self._form.set_value(canonical, param_value(spec, canonical))

        self._edit(f"set {node_id}.{name}", apply, settle)

    def load(self, source: Manifest | str | os.PathLike[str] | Mapping[str, Any]) -> None:
        """Replace the whole graph with a manifest (JSON text, path, dict or ``Manifest``).

        It is validated first: an invalid one raises ``ManifestError`` (every problem
        listed in the widget) and the current graph stays. ``builder.manifest`` stays
        the same object, refilled, so whoever holds it sees the new graph.
        """

        def apply() -> Change:
            loaded = Manifest.load(source)
            vars(self._manifest).update(vars(loaded))  # every field, whatever Manifest grows
            self.canvas.selected = ""
            return Change("load")

        self._edit("load the manifest", apply)

    def undo(self) -> bool:
        """Undo the last edit made through the Builder (Ctrl-Z in the canvas).

        Returns False when there is none. Edits made to ``builder.manifest`` directly
        are not steps of their own: undo goes back to before the last Builder edit.
        """
        return self._travel(self._history.undo, "undo")

    def redo(self) -> bool:
        """Redo the last undone edit (Ctrl-Shift-Z or Ctrl-Y); False when there is none."""
        return self._travel(self._history.redo, "redo")

    def _travel(self, step: Callable[[Manifest], bool], kind: str) -> bool:
        with self._lock:
            if not step(self._manifest):
                return False
            if self.canvas.selected not in {n.id for n in self._manifest.nodes}:
                self.canvas.selected = ""
            self._show_form()  # the restored values
            self._show("")
            self._sync()
        self._notify(Change(kind))
        return True

    # -- files next to the notebook ------------------------------------------------------

    def default_file_name(self) -> str:
        """``<manifest name>.json`` made safe for a file name (``pipeline.json`` if unnamed)."""
        stem = re.sub(
            r"[^A-Za-z0-9._-]+", "-", str(self._manifest.metadata.get("name") or "")
        ).strip("-.")
        return f"{stem or 'pipeline'}.json"

    def files(self) -> list[str]:
        """The ``.json`` files in the folder Save and Open use, by name."""
        return sorted(p.name for p in self._folder().glob("*.json") if p.is_file())

    def save_file(self, name: str | None = None, *, replace: bool = False) -> Path:
        """Write the manifest as ``name`` (default: the file-name box) in the folder.

        Refused (``ManifestError``) for a pipeline with problems, since Open would
        refuse the file, and ``FileExistsError`` for an existing file unless
        ``replace``: a class's handout is not overwritten by accident.
        """
        path = self._path(name if name is not None else self._file_name.value)
        with self._lock:
            problems = self._manifest.problems()
            if problems:
                raise ManifestError(problems)
            text = self._manifest.dumps()
        if path.exists() and not replace:
            raise FileExistsError(f"{path.name} exists")
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)  # a reader never sees half a file
        return path

    def open_file(self, name: str) -> Path:
        """Replace the graph with the manifest in file ``name`` of the folder (validated
        as ``load`` does: a refused file leaves the graph as it was)."""
        path = self._path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FileNotFoundError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError([("", f"{path.name} is not JSON: {exc}")]) from exc
        if not isinstance(data, dict):
            kind = type(data).__name__
            raise ManifestError([("", f"{path.name} holds a {kind}, not a manifest")])
        self.load(data)
        return path

    def _folder(self) -> Path:
        return Path(self.folder) if self.folder is not None else Path.cwd()

    def _path(self, name: str) -> Path:
        """``name`` in the folder; only a plain file name (with ``.json`` added)."""
        name = (name or "").strip()
        if not name:
            raise ValueError("type a file name first")
        if Path(name).name != name or name in (".", ".."):
            raise ValueError(f"{name!r} is not a plain file name: files stay next to the notebook")
        return self._folder() / (name if name.lower().endswith(".json") else f"{name}.json")

    def _list_files(self, chosen: str | None = None) -> None:
        names = self.files()
        keep = chosen if chosen in names else self._files.value
        # One message to the browser: options and choice apart would let a pick made
        # between them be overwritten by the second.
        with self._files.hold_sync():
            self._files.options = names
            self._files.value = keep if keep in names else (names[0] if names else None)
        self._open.disabled = not names

    def _say(self, message: str, ok: bool, line: widgets.HTML | None = None) -> None:
        """Say what a button did on the line under it (default: the files' line)."""
        css, color = ("rm-file-ok", "inherit") if ok else ("rm-file-refused", _RED)
        line = line if line is not None else self._file_status
        line.value = f'<div class="{css}" style="color: {color}">{html.escape(message)}</div>'

    def _on_file_name(self, _change: Any) -> None:
        self._replace = None  # another name: Save asks again before replacing a file

    def _on_save(self, _button: Any) -> None:
        with self._guard("saving"):
            try:
                path = self._path(self._file_name.value)
                path = self.save_file(path.name, replace=self._replace == path)
            except FileExistsError:
                self._replace = path
                self._say(f"{path.name} exists: press Save again to replace it", ok=False)
                return
            except ManifestError as exc:
                reasons = "; ".join(msg for _, msg in exc.problems)
                self._say(f"Not saved: the pipeline has problems ({reasons})", ok=False)
                return
            except (ValueError, OSError) as exc:
                self._say(f"Not saved: {exc}", ok=False)
                return
            self._replace = None
            self._list_files(path.name)
            self._say(f"Saved {path.name} in {path.parent}", ok=True)

    def _on_open(self, _button: Any) -> None:
        with self._guard("opening"):
            name = self._files.value
            if not name:
                self._say("No JSON file in this folder yet: Save one first", ok=False)
                return
            try:
                self.open_file(name)
            except ManifestError as exc:
                lines = [f"{p}: {m}" if p else m for p, m in exc.problems]
                self._say(f"Not opened: {name} is not a valid manifest. " + "; ".join(lines),
                          ok=False)  # fmt: skip
                return
            except (ValueError, OSError) as exc:
                self._say(f"Not opened: {exc}", ok=False)
                return
            self._file_name.value = name  # Save writes back to it (after asking once)
            self._say(f"Opened {name}", ok=True)

    def refresh(self, notify: bool = True) -> None:
        """Re-read the node registry and redraw everything from ``builder.manifest``.

        Call it after editing ``builder.manifest`` directly, or after defining new node
        classes in the notebook (they join the palette's ``notebook`` group).
        """
        with self._lock:
            self._on_query()
            ids = {n.id for n in self._manifest.nodes}
            if self.canvas.selected not in ids:
                self.canvas.selected = ""
            self._show_form()
            self._sync()
        if notify:
            self._notify(Change("refresh"))

    def close(self) -> None:
        """Close the Builder and every widget it made."""
        files = [self._file_name, self._save, self._files, self._open, self._rescan,
                 self._file_status, self._import_status]  # fmt: skip
        for w in [self._form, self._json, self._code, self._import, self._load, *files]:
            w.close()
        self.canvas.close()
        super().close()

    # -- applying edits -------------------------------------------------------------------

    def _edit(
        self, what: str, apply: Callable[[], Change], settle: Callable[[], None] | None = None
    ) -> Change:
        """Run one edit under the lock; show why a refused one was refused; then, either
        way, ``settle`` (put the form right) and sync the page; then call ``on_change``."""
        with self._lock:
            before = snapshot(self._manifest)
            try:
                change = apply()
                self._history.record(before, self._manifest, merge_key(change))
            except ManifestError as exc:
                reasons = "; ".join(msg for _, msg in exc.problems)
                self._show(f"Cannot {what}: {reasons}")
                raise
            finally:
                if settle is not None:
                    settle()
                self._sync()  # always: the page must drop its own half-done version
            self._show("")
        self._notify(change)
        return change

    def _keep_if_valid(
        self,
        do: Callable[[], Any],
        undo: Callable[[], Any],
        allowed: Callable[[tuple[str, str]], bool] = lambda p: False,
    ) -> None:
        """Apply ``do``; if the manifest now has a problem it had not before, ``undo`` it
        and raise ``ManifestError`` with the new problems."""
        before = set(self._manifest.problems())
        do()
        new = [p for p in self._manifest.problems() if p not in before and not allowed(p)]
        if new:
            undo()
            raise ManifestError(new)

    def _sync(self) -> None:
        """Send the whole graph and the exports to the page."""
        self._rev += 1
        self.canvas.graph = state.graph_state(self._manifest, self._rev)
        self.canvas.history = {"undo": self._history.can_undo, "redo": self._history.can_redo}
        self._json.value = f"<pre>{html.escape(self._manifest.dumps())}</pre>"
        self._code.value = f"<pre>{html.escape(self._manifest.to_code())}</pre>"

    def _show(self, message: str) -> None:
        self.canvas.error = message

    def _notify(self, change: Change) -> None:
        for callback in list(self.on_change):
            try:
                callback(change)
            except Exception as exc:  # the edit stands; the callback's failure is shown
                self._show(f"on_change callback {callback!r} failed: {_describe(exc)}")

    @contextmanager
    def _guard(self, where: str) -> Iterator[None]:
        """Around every handler of the page's events: refusals are already shown;
        a malformed message is shown and ignored; any other error is shown, then raised
        (so the kernel logs it too), never swallowed."""
        try:
            yield
        except ManifestError:
            pass
        except Malformed as exc:
            self._show(f"Ignored a malformed message from the page: {exc}")
        except Exception as exc:
            self._show(f"{where} failed: {_describe(exc)}")
            raise

    # -- events from the page and the form -----------------------------------------------------

    def _on_message(self, _widget: Any, content: Any, _buffers: list[Any]) -> None:
        with self._guard("handling a message from the page"):
            dispatch(self, content)

    def _on_select(self, change: dict[str, Any]) -> None:
        with self._guard("selecting a node"), self._lock:
            if change["new"] and change["new"] not in {n.id for n in self._manifest.nodes}:
                self.canvas.selected = ""  # a stale click: the node is gone
            elif self._form.node_id != (change["new"] or None):  # a rename keeps its form
                self._show_form()

    def _on_query(self, _change: Any = None) -> None:
        with self._guard("searching the palette"):
            query = self.canvas.palette_query
            self.canvas.palette = state.palette_payload(state.palette(query))

    def _on_load(self, _button: Any) -> None:
        with self._guard("loading the manifest"):
            text, line = self._import.value.strip(), self._import_status
            if not text:
                self._say("Paste a manifest's JSON (or a file path) first", False, line)
                return
            try:
                self.load(text)
            except ManifestError as exc:  # said under the box the person pasted into
                problems = "; ".join(f"{p}: {m}" if p else m for p, m in exc.problems)
                self._say(f"Not loaded: {problems}. The graph is as it was.", False, line)
                raise
            n = len(self._manifest.nodes)
            self._say(f"Loaded {n} node{'s' if n != 1 else ''}", True, line)

    def _form_param(self, node_id: str, name: str, value: Any) -> None:
        with self._guard(f"setting {name}"):
            try:
                self.set_param(node_id, name, value)
            except ManifestError as exc:
                self._form.refused(exc, name)  # under the field the person typed in
                raise

    def _form_rename(self, node_id: str, new_id: str) -> None:
        with self._guard("renaming"):
            try:
                self.rename(node_id, new_id.strip())
            except ManifestError as exc:
                self._form.refused(exc)  # under the id box
                raise

    def _show_form(self) -> None:
        with self._lock:
            nid = self.canvas.selected
            self._form.show(self._manifest.node(nid) if nid else None)


# -- helpers ----------------------------------------------------------------------------------


def _position(x: float, y: float) -> dict[str, int]:
    """A saved position: whole pixels, never off the canvas's top or left edge."""
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (x, y)):
        raise ManifestError([("position", f"x and y must be finite numbers, got {x!r}, {y!r}")])
    return {"x": max(0, round(x)), "y": max(0, round(y))}


def _canonical(node_type: str, name: str) -> str:
    """A param's own name for ``name``, which may be one of its aliases."""
    try:
        return lookup(node_type).param_name(name)
    except ManifestError:
        return name


def _describe(exc: BaseException) -> str:
    """An exception and where it was raised, short enough for the error line."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {where[0].filename}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"
