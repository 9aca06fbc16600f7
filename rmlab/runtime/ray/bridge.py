"""A remote node inside a ``"shm"`` session: a bridge between shared memory and its actor.

Why a bridge in the session process, and not a worker process per remote node: the
node's own code runs in its Ray actor, so all its shm side has to do is move frames,
and a process of its own would have to be a second Ray driver (seconds to import
and connect, a separate Ray job owning the actor) for nothing. So the session
process, which is the Ray driver of every remote node on every executor, keeps one
bridge thread per remote node. The bridge is a ``Worker`` of the shm executor (the
same channels, doorbells, board, flow control and error records as any worker, so
its neighbours cannot tell it from one) whose ``process`` is a ``RemoteNode``:

- frames it receives (zero-copy views of shared memory) are sent to the actor at
  once, up to ``max_in_flight`` per replica: serialising copies them into Ray's
  object store, so the shm sample goes back to its producer right away, and while
  the window is full the bridge receives nothing more, so backpressure reaches the
  predecessors exactly as a slow worker's would;
- finished calls come back in input order (``RemoteNode.results``) and their
  outputs are encoded into the node's shm channel, one copy, with the hop's
  actor-side times; each call is counted on the board, which is where the session's
  ``HopDone`` events come from;
- error records of predecessors, the node's own errors and the end of input are
  queued behind the calls in flight (``RemoteNode.mark``), so they leave in order;
- a dead actor is reported by the bridge (``NodeCrashed`` naming the cluster node,
  ``NodeRestarted`` when the restart policy started a new one, ``Ended`` when it
  cannot go on), as the supervisor does for a worker process.

The bridge thread sleeps in ``poll`` on its doorbell, a pipe Ray's callback thread
rings when a call finishes, and a stop pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from rmlab.data import EndOfInput
from rmlab.errors import NodeError
from rmlab.runtime.executor import Ended, Event, NodeFailed, NodeRestarted, close_fds
from rmlab.runtime.graph import Graph
from rmlab.runtime.ray.placement import Placement
from rmlab.runtime.ray.remote import RemoteNode, Result, make_remote
from rmlab.runtime.shm.channels import (
    ALL_SOURCES,
    HEADER_SIZE,
    KIND_ERROR,
    TraceHeader,
    drain,
    ring,
)
from rmlab.runtime.shm.worker import Worker

__all__ = ["Bridge", "Bridges"]

_FLUSH = object()


class _Stopped(Exception):
    """The session is closing: leave whatever wait the bridge is in."""


def _copy(h: TraceHeader) -> TraceHeader:
    """A frame's trace header, kept past the next receive (which overwrites the inlet's)."""
    c = TraceHeader()
    ctypes.memmove(ctypes.addressof(c), ctypes.addressof(h), HEADER_SIZE)
    return c


class Bridge(Worker):
    """One remote node's shm worker, on a thread of the session; see the module docstring."""

    def __init__(self, spec: dict[str, Any], remote: RemoteNode, report: Callable[[Event], None]):
        self.remote = remote
        self._report_event = report
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pipes_open = True
        self._stopping = False
        self._ctl: deque[dict[str, Any]] = deque()
        self._eoi: TraceHeader | None = None
        self.crashed: NodeError | None = None
        try:
            super().__init__(spec, report=_unused)
        except BaseException:
            self._close_pipes()
            raise
        remote.set_notify(self._ring)
        assert self.outlet is not None
        self.outlet.also_poll = (self._stop_r,)
        self.outlet.on_wait = self._check_stop
        sid = spec["session"]["sid"]
        self.thread = threading.Thread(
            target=self._main, name=f"rmlab-ray-bridge-{sid}-{self.node_id}", daemon=True
        )

    def _make_node(self) -> None:
        self.accepts = self.remote.accepts  # the node itself runs in its actor

    # -- the session's side -----------------------------------------------------------

    def control(self, params: dict[str, Any]) -> None:
        """New params (``Session.set_params``): applied before the next frame received."""
        self._ctl.append(params)
        self._ring()

    def stop(self) -> list[NodeError]:
        """Stop the thread, close the channels, tear the node down; teardown errors."""
        self._stopping = True
        with self._lock:
            if self._pipes_open:
                ring(self._stop_w)
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=10)
        try:
            self.close()
        finally:
            self._close_pipes()
        return self.remote.close()

    def _ring(self) -> None:
        """Wake the bridge (from Ray's callback thread too: never after the pipes closed,
        whose numbers the process may have given to someone else)."""
        with self._lock:
            if self._pipes_open:
                ring(self._wake_w)

    def _close_pipes(self) -> None:
        with self._lock:
            if self._pipes_open:
                self._pipes_open = False
                close_fds(self._wake_r, self._wake_w, self._stop_r, self._stop_w)

    # -- the bridge thread -------------------------------------------------------------

    def _main(self) -> None:
        try:
            self.run()
        except _Stopped:
            return
        except Exception as exc:  # a bug, or the cluster went away: the node cannot go on
            if self._stopping:
                return
            err = NodeError(
                self.node_id,
                f"its bridge to Ray failed: {type(exc).__name__}: {exc}",
                traceback.format_exc(),
            )
            self.crashed = err
            self._report_event(NodeFailed(err))
            self._report_event(Ended(f"node {self.node_id!r} failed"))

    def run(self) -> None:
        bell = self.spec["fds"]["doorbell"]
        poller = select.poll()
        for fd in (bell, self._wake_r, self._stop_r):
            poller.register(fd, select.POLLIN)
        while True:
            poller.poll()
            if self._stopping:
                return
            drain(self._wake_r)
            drain(bell)
            self._apply_control()
            self._emit_ready()
            self._receive_all()
            self._emit_ready()

    def _check_stop(self) -> None:
        if self._stopping:
            raise _Stopped

    def _apply_control(self) -> None:
        while self._ctl:
            self.remote.update(self._ctl.popleft())

    def _receive_all(self) -> None:
        """Receive while the actors have room (the rest waits in shm: backpressure)."""
        rn = self.remote
        again = True
        while again and not rn.full and not rn.dead:
            again = False
            for inlet in self.inlets:
                while not rn.full and (data := inlet.receive()) is not None:
                    again = len(self.inlets) > 1
                    self._handle(inlet, data)

    def _handle(self, inlet: Any, data: Any) -> None:
        self._apply_control()  # a param change made before this frame was pushed goes first
        rn = self.remote
        h = inlet.header
        if h.kind == KIND_ERROR:
            rn.mark(("pass", data, _copy(h)))  # a predecessor's error, in order with frames
            return
        if inlet.producer == self.n and h.target not in (ALL_SOURCES, self.index):
            return  # pushed to another source node
        if isinstance(data, EndOfInput):
            self.ended.add(inlet.producer)
            if len(self.ended) == len(self.inlets):
                self._eoi = _copy(h)
                rn.flush(_FLUSH)
            return
        if not isinstance(data, self.accepts):
            took = ", ".join(sorted(t.__name__ for t in self.accepts))
            msg = f"{rn.node_type} does not accept {type(data).__name__} (accepts {took})"
            rn.mark(("error", msg, ""))
            return
        rn.submit([data], inlet.source, _copy(h))

    def _emit_ready(self) -> None:
        for res in self.remote.results():
            self._emit(res)

    def _emit(self, res: Result) -> None:
        kind = res.kind
        if kind == "process":
            self._emit_call(res)
        elif kind == "mark":
            what, a, b = res.tag
            if what == "pass":
                self.outlet.send(a, src=b, kind=KIND_ERROR)
            else:
                self._error(a, b)
        elif kind == "update":
            if res.error is not None:
                self._node_error(res.error)
        elif kind == "flush":
            self._emit_flush(res)
        elif kind == "lost":
            if res.tag is _FLUSH and not self.remote.dead:
                self.remote.flush(_FLUSH)  # flush the restarted actor: the end must go on
        elif kind == "crashed":
            self._report_event(NodeFailed(res.error))  # type: ignore[arg-type]
            if res.fatal:
                self.crashed = res.error
                self._report_event(Ended(f"node {self.node_id!r} crashed"))
        elif kind == "restarted":
            self._report_event(NodeRestarted(self.node_id, self.remote.restarts))

    def _emit_call(self, res: Result) -> None:
        if res.error is not None:
            self._node_error(res.error)
        for t0, t1, _, err in res.calls:
            if err is not None:
                self._node_error(err)
                continue
            self.calls += 1
            self.board.record_call(self.index, self.calls, t0, t1)  # before any output leaves
        if not res.n_out:
            return
        try:
            outs = self.remote.fetch(res)
        except NodeError as exc:
            self._node_error(exc)
            return
        t0, t1 = res.calls[0][0], res.calls[0][1]
        for out in outs:
            self._send(out, src=res.tag, hop=(self.index, t0, t1))

    def _emit_flush(self, res: Result) -> None:
        for call in res.calls:
            if call[3] is not None:
                self._node_error(call[3])
        outs: list[Any] = []
        if res.n_out:
            try:
                outs = self.remote.fetch(res)
            except NodeError as exc:
                self._node_error(exc)
        i = 0
        for t0, t1, n, _ in res.calls:
            for out in outs[i : i + n]:
                self._send(out, seq=-1, origin_ns=t0, hop=(self.index, t0, t1))
            i += n
        self._send(EndOfInput(), src=self._eoi)

    def _node_error(self, err: NodeError) -> None:
        self._error(err.message, err.traceback)


def _unused(_msg: dict[str, Any]) -> None:
    """A worker process reports on its stdout; a bridge reports events instead."""


class Bridges:
    """The remote nodes of a shm session: their actors, then their bridges.

    ``Bridges(...)`` checks the placements and starts the actors (without waiting, so
    they start while the worker processes do); ``start`` waits for them and starts a
    bridge per node on the node's channels; ``stop`` undoes it all.
    """

    def __init__(
        self,
        graph: Graph,
        placements: dict[str, Placement],
        option: Any,
        report: Callable[[Event], None],
        timeout: float,
    ):
        self._report = report
        self.bridges: dict[str, Bridge] = {}
        self.remote = make_remote(graph, placements, option, lambda _nid: _nothing, timeout=timeout)
        try:
            for rn in self.remote.values():
                rn.begin()
        except BaseException:
            self.stop()
            raise

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.remote

    def start(self, specs: dict[str, dict[str, Any]], timeout: float) -> None:
        """Wait for every node's ``setup()`` on its actor, then start the bridges."""
        deadline = time.monotonic() + timeout
        for rn in self.remote.values():
            rn.wait_started(deadline, timeout)
        for nid, rn in self.remote.items():
            self.bridges[nid] = Bridge(specs[nid], rn, self._report)
        for b in self.bridges.values():
            b.thread.start()

    def control(self, node_id: str, params: dict[str, Any]) -> None:
        self.bridges[node_id].control(params)

    @property
    def crashed(self) -> NodeError | None:
        """The first remote node that cannot go on, if any."""
        return next((b.crashed for b in self.bridges.values() if b.crashed is not None), None)

    @property
    def restarts(self) -> dict[str, int]:
        return {nid: rn.restarts for nid, rn in self.remote.items()}

    def stop(self) -> list[NodeError]:
        """Stop every bridge and release every actor; teardown errors."""
        errors: list[NodeError] = []
        for nid, rn in self.remote.items():
            b = self.bridges.get(nid)
            with contextlib.suppress(Exception):
                errors += b.stop() if b is not None else rn.close()
        self.bridges.clear()
        return errors


def _nothing() -> None:
    """Until its bridge exists, nobody waits for a node's calls."""
