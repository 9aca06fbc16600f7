"""One node in its own process: ``python -m rmlab.runtime.shm.worker``.

The session writes a length-prefixed pickled spec to stdin and keeps stdin open for
control messages (JSON lines, e.g. ``{"op": "set_params", "params": {...}}``, applied
between two frames); EOF means "stop" (and arrives by itself if the session's
process dies). The worker reports on
stdout with JSON lines (``ready``, ``setup-failed``); a node's own prints go to
stderr, whose tail the session keeps for crash reports.

The loop: sleep in ``poll`` on the doorbell and stdin (GIL released, ~0% CPU),
drain the doorbell, receive from every input until all are empty, process each
frame and publish its outputs, repeat. Errors in the node travel downstream as
error records, so the session raises them in order with the node's outputs.
"""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import select
import signal
import sys
import time
import traceback
from typing import Any

import numpy as np

from rmlab.data import EndOfInput
from rmlab.data import _with_array as with_array
from rmlab.errors import RmlabError
from rmlab.nodes.base import run_flush, run_process, run_update
from rmlab.runtime.shm.channels import ALL_SOURCES, KIND_ERROR, drain

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL this worker when the session's process dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the stdin EOF watch still applies
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class Worker:
    """One node: its input and output channels, and what happens to each frame.

    In a worker process a ``Process`` runs one or more of these (several when the
    manifest co-locates nodes) and shares its board and iceoryx2 node with them; a
    node on Ray has one on a bridge thread of the session (``rmlab.runtime.ray.bridge``).
    """

    def __init__(self, spec: dict[str, Any], report: Any, shared: Any = None):
        self.spec = spec
        self.report = report
        self.plan = plan = spec["plan"]
        sess, fds = spec["session"], spec["fds"]
        self.index: int = plan.index
        self.node_id: str = plan.node_id
        self.n: int = sess["n"]
        self.stage = "import"  # what failed, for the start-failed report
        self.board = self.iox = self.outlet = None
        self._owns = shared is None  # a Process shares its board and iceoryx2 node
        if shared is not None:
            self.board, self.iox = shared.board, shared.iox
        self.inlets: list[Any] = []
        self.local: list[Worker] = []  # successors in this process: called, not subscribed
        self.expect = len(plan.inputs) + spec.get("local_inputs", 0)  # ends to wait for
        self.node: Any = None
        self._set_up = False
        try:
            self._open(sess, fds)
        except BaseException:
            self.close()  # tear down what was set up, then report the failure
            raise
        self.ended: set[int] = set()
        self.errors = 0
        q = self.board.q
        self.calls = q[self.board.at_calls + self.index]  # a restart continues the count
        self._pending = b""
        self._i_control = self.board.at_control + self.index
        self._ctl_seen = q[self._i_control]  # a restart starts up to date

    def _open(self, sess: dict[str, Any], fds: dict[str, Any]) -> None:
        self._make_node()
        self._open_channels(sess, fds)

    def _make_node(self) -> None:
        """Unpickle the node's class, create the node, run its ``setup()``."""
        import cloudpickle

        cls = cloudpickle.loads(self.spec["cls"])
        self.stage = "node creation"
        self.node = cls(**self.spec["params"])
        self.node.node_id = self.node_id
        self.accepts = tuple(self.node.accepts)
        self.stage = "setup()"
        self.node.setup()
        self._set_up = True
        self._out_in_loan = type(self.node)._takes_out

    def _open_channels(self, sess: dict[str, Any], fds: dict[str, Any]) -> None:
        """The board, this node's outlet and an inlet per input (the plan says which)."""
        from rmlab.runtime.shm.channels import Board, Inlet, Outlet, iox_node, service

        if self.board is None:
            self.stage = "the session's board"
            self.board = Board(sess["board"], self.n, create=False)
        if self.iox is None:
            self.stage = "iceoryx2"
            self.iox = iox_node(f"rmlab-{sess['sid']}-{self.index}")
        self.stage = "iceoryx2"
        names = sess["names"]
        kw = {"buffer": sess["buffer"], "borrowed": sess["borrowed"], "create": False}
        out_svc = service(self.iox, names[self.index], max_subscribers=sess["max_subs"], **kw)
        self.outlet = Outlet(
            out_svc,
            self.index,
            board=self.board,
            consumers=self.plan.external_successors,
            doorbells=fds["successors"],
            session_fd=fds["session"],
            credit_fd=fds["doorbell"],
            block=sess["block"],
            buffer=sess["buffer"],
            max_frame=sess["max_frame"],
            label=f"node {self.node_id!r}",
        )
        order = sess["order"]
        published = self.board.at_published
        for p, credit_fd in zip(self.plan.inputs, fds["input_credit"], strict=True):
            svc = service(self.iox, names[p], max_subscribers=sess["max_subs"], **kw)
            inlet = Inlet(
                svc, p, self.index, board=self.board, borrowed=sess["borrowed"],
                credit_fd=credit_fd, block=sess["block"],
            )  # fmt: skip
            inlet.start_at(self.board.q[published + p])
            inlet.source = order[p] if p < self.n else None  # what the node's source= says
            inlet.worker = self
            self.inlets.append(inlet)
        self.stage = "running"

    def _handle(self, inlet: Any, data: Any) -> None:
        raw, inlet.raw = inlet.raw, None
        self.take(inlet.producer, inlet.source, data, inlet.header, raw, inlet.nbytes)

    def take(self, producer: int, source: str | None, data: Any, h: Any, raw: Any = None,
             nbytes: int = 0) -> None:  # fmt: skip
        """One frame (or error record) from ``producer``; ``h`` is its trace header and
        ``raw`` its wire bytes when it came through a channel."""
        if self.board.q[self._i_control] != self._ctl_seen:
            self._catch_up_control()
        if h.kind == KIND_ERROR:
            self._pass_error(data, h)  # pass errors on towards the session
            return
        if producer == self.n and h.target not in (ALL_SOURCES, self.index):
            return  # pushed to another source node
        if isinstance(data, EndOfInput):
            self.ended.add(producer)
            if len(self.ended) == self.expect:
                self._flush(h)
            return
        if not isinstance(data, self.accepts):
            took = ", ".join(sorted(t.__name__ for t in self.accepts))
            self._error(f"{self.node.node_type} does not accept {type(data).__name__} "
                        f"(accepts {took})", "")  # fmt: skip
            return
        loan = out = None
        if self._out_in_loan and raw is not None and not self.local:
            try:
                loan, out = self._loan_like(data, raw, nbytes)
            except RmlabError as exc:
                self._error(str(exc), "")
                return
        self.on_call()
        t0 = time.monotonic_ns()
        try:
            outs = run_process(self.node, data, source, out)
        except Exception as exc:
            self._error(f"{type(exc).__name__} in process(): {exc}", traceback.format_exc())
            return
        t1 = time.monotonic_ns()
        self.calls += 1
        self.board.record_call(self.index, self.calls, t0, t1)  # before any output leaves
        hop = (self.index, t0, t1)
        if loan is not None:
            if len(outs) == 1 and outs[0] is out:  # computed into the loan: send it as it is
                try:
                    self.outlet.send_loan(loan, h, hop)
                except RmlabError as exc:
                    self._error(str(exc), "")
                return
            del loan, out  # returned something else: the loan goes back unsent
        if raw is not None and len(outs) == 1 and outs[0] is data:
            self._forward(data, h, hop, raw, nbytes)
            return
        for o in outs:
            self._send(o, src=h, hop=hop)

    def _loan_like(self, data: Any, raw: Any, nbytes: int) -> tuple[Any, Any]:
        """A loan laid out like the input frame's ``nbytes`` wire bytes ``raw`` (header,
        metadata, array, all but the array's bytes copied), and the ``out`` frame whose
        writable array is the loan's array; (None, None) when the input has no array."""
        name = data.ARRAY_FIELD
        if name is None or not isinstance(raw, ctypes.Array):
            return None, None
        arr = getattr(data, name)
        base = ctypes.addressof(raw)
        at = arr.__array_interface__["data"][0] - base
        end = at + arr.nbytes
        if at < 0 or end > nbytes:
            return None, None  # not a view of this frame's bytes (cannot happen on shm)
        loan = self.outlet.loan(nbytes)
        ptr = loan.payload_ptr
        ctypes.memmove(ptr, base, at)  # the output's header and metadata are the input's
        ctypes.memmove(ptr + end, base + end, nbytes - end)
        buf = (ctypes.c_uint8 * nbytes).from_address(ptr)
        view = np.ndarray(arr.shape, arr.dtype, buffer=buf, offset=at, strides=arr.strides)
        return loan, with_array(data, name, view)

    def _forward(self, data: Any, h: Any, hop: tuple[int, int, int], raw: Any,
                 nbytes: int) -> None:  # fmt: skip
        """The input came out unchanged: send its wire bytes on as they came (no
        encoding: one memmove), and hand them to co-located successors with it."""
        if self.outlet.read_outside():
            try:
                self.outlet.forward(raw, nbytes, h, hop)
            except RmlabError as exc:
                self._error(str(exc), "")
                return
        if self.local:
            h = self.outlet.header(src=h, hop=hop)
            for w in self.local:
                w.take(self.index, self.node_id, data, h, raw, nbytes)

    _out_in_loan = False  # the node computes into an ``out`` (set once it exists)
    on_call: Any = staticmethod(lambda: None)
    """Called before each ``process``/``flush`` (a Process notes which node runs)."""

    def _flush(self, eoi_header: Any) -> None:
        self.on_call()
        t0 = time.monotonic_ns()
        try:
            outs = run_flush(self.node)
        except Exception as exc:
            self._error(f"{type(exc).__name__} in flush(): {exc}", traceback.format_exc())
            outs = []
        t1 = time.monotonic_ns()
        for out in outs:
            self._send(out, seq=-1, origin_ns=t0, hop=(self.index, t0, t1))
        self._send(EndOfInput(), src=eoi_header)

    def _send(self, out: Any, **kw: Any) -> None:
        """One output: published for other processes and the session, called for
        successors in this process."""
        if self.outlet.read_outside():
            try:
                self.outlet.send(out, **kw)
            except RmlabError as exc:  # e.g. a frame above max_frame_bytes: report, go on
                self._error(str(exc), "")
                return
        if self.local:
            h = self.outlet.header(**kw)
            for w in self.local:
                w.take(self.index, self.node_id, out, h)

    def _pass_error(self, record: bytes, h: Any) -> None:
        if self.outlet.read_outside():
            self.outlet.send(record, src=h, kind=KIND_ERROR)
        for w in self.local:
            w.take(self.index, self.node_id, record, h)

    def _error(self, message: str, tb: str) -> None:
        self.errors += 1
        record = {"node_id": self.node_id, "message": message, "traceback": tb}
        eid = ((self.index + 1) << 40) | self.errors
        h = self.outlet.header(seq=eid, origin_ns=time.monotonic_ns(), kind=KIND_ERROR)
        self._pass_error(json.dumps(record).encode(), h)

    def _read_control(self) -> bool:
        """Apply the control lines waiting on stdin; False at EOF (the session is gone)."""
        return self.process.read_control()

    def _catch_up_control(self) -> None:
        """The board says a control message was sent: apply it before the next frame."""
        # stdin blocks, but the line was written before the counter moved: no real wait
        while self._ctl_seen < self.board.q[self._i_control]:
            if not self._read_control():
                return

    def _control(self, msg: dict[str, Any]) -> None:
        self._ctl_seen += 1
        if msg.get("op") == "set_params":
            try:
                run_update(self.node, msg["params"])
            except Exception as exc:
                self._error(f"{type(exc).__name__} in update(): {exc}", traceback.format_exc())

    def close(self) -> None:
        """Release channels, board and node (whatever of them was set up)."""
        for inlet in self.inlets:
            inlet.close()
        if self.outlet is not None:
            self.outlet.close()
        if self.board is not None and self._owns:
            self.board.close()
        try:
            if self._set_up:
                self.node.teardown()
        finally:
            if self._owns:
                self.iox = None  # the iceoryx2 node's resources go with its last reference


class Process:
    """The nodes of one worker process and the loop that runs them.

    One node, unless the manifest co-locates several (``"execution": {"process":
    name}``): then a frame from one to another is a call of the next one's ``take``
    (no channel, no copy, no wake-up), and each node still has its own output
    service, board slots, errors and stats.
    """

    def __init__(self, spec: dict[str, Any], report: Any):
        from rmlab.runtime.shm.channels import Board, iox_node

        self.spec = spec
        self.report = report
        sess = spec["session"]
        self.workers: list[Worker] = []
        self.board = self.iox = None
        self.stage = "the session's board"
        try:
            self.board = Board(sess["board"], sess["n"], create=False)
            self.stage = "iceoryx2"
            self.iox = iox_node(f"rmlab-{sess['sid']}-{spec['plan'].index}")
            for entry in spec["nodes"]:
                w = Worker({**entry, "session": sess}, report, shared=self)
                w.process = self
                self.workers.append(w)
        except BaseException:
            self.close()
            raise
        by_index = {w.index: w for w in self.workers}
        for w in self.workers:
            w.local = [by_index[i] for i in w.plan.local_successors]
        if len(self.workers) > 1:  # a crash is the node that was running
            q, at = self.board.q, self.board.at_active + spec["plan"].index
            for w in self.workers:
                w.on_call = lambda i=w.index + 1: q.__setitem__(at, i)
        self._by_id = {w.node_id: w for w in self.workers}
        self._pending = b""
        self.inlets = [(i, w) for w in self.workers for i in w.inlets]

    def run(self) -> None:
        bell = self.spec["fds"]["doorbell"]
        poller = select.poll()
        poller.register(bell, select.POLLIN)
        poller.register(0, select.POLLIN | select.POLLHUP)
        self.report({"event": "ready", "pid": os.getpid()})
        while True:
            events = poller.poll()
            for fd, _ in events:
                if fd == 0 and not self.read_control():
                    return  # the session closed our stdin (or died): stop
            drain(bell)
            self._receive_all()

    def read_control(self) -> bool:
        """Apply the control lines waiting on stdin; False at EOF (the session is gone)."""
        chunk = os.read(0, 65536)
        if not chunk:
            return False
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            msg = json.loads(line)
            self._by_id[msg["node"]]._control(msg)
        return True

    def _receive_all(self) -> None:
        # One pass per inlet until it is empty. With several inlets, repeat while any gave
        # something (frames may have arrived on an earlier one meanwhile); with one, the
        # doorbell already guarantees a wake-up for anything that arrives later, and each
        # empty receive() is a call into iceoryx2 the hop does not need.
        inlets = self.inlets
        again = True
        while again:
            again = False
            for inlet, w in inlets:
                while (data := inlet.receive()) is not None:
                    again = len(inlets) > 1
                    w._handle(inlet, data)

    def close(self) -> None:
        """Release every node's channels, then the board (whatever was set up)."""
        try:
            for w in self.workers:
                w.close()
        finally:
            if self.board is not None:
                self.board.close()
            self.iox = None  # the iceoryx2 node's resources go with its last reference


def _stage_of(exc: BaseException) -> str:
    """Which part of starting failed: the traceback's innermost Worker frame knows."""
    tb = exc.__traceback__
    stage, many = "import", False
    while tb is not None:
        w = tb.tb_frame.f_locals.get("self")
        if isinstance(w, Process):
            stage, many = w.stage, len(w.spec["nodes"]) > 1
        elif isinstance(w, Worker):  # co-located: say which node
            stage = f"{w.stage} of node {w.node_id!r}" if many else w.stage
        tb = tb.tb_next
    return stage if stage != "import" else "import (unpickling the node class)"


def _set_title(title: str) -> None:
    """Name this process for ``top`` (``comm``, 15 characters); ``ps`` shows the argv too."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(title.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the command line still says it
        pass


def _read_spec() -> dict[str, Any]:
    """The spec: an 8-byte length, then a pickle. Read with os.read, never through
    sys.stdin's buffer, which could swallow control messages that follow it."""
    head = _read_exactly(8)
    return pickle.loads(_read_exactly(int.from_bytes(head, "little")))


def _read_exactly(n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = os.read(0, n - got)
        if not chunk:
            raise SystemExit(1)  # the session went away before sending the spec
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def main(parent_pid: int | None = None) -> int:
    """Run the worker the spec on stdin describes; ``parent_pid`` is the process whose
    death kills this worker: the session's (the spec says) unless a fork server forked it."""
    spec = _read_spec()
    _die_with_parent(parent_pid or spec["parent_pid"])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the session's to handle
    # stdout is our protocol channel: move the node's own prints to stderr
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def report(msg: dict[str, Any]) -> None:
        proto.write(json.dumps(msg) + "\n")

    sys.path[:] = spec["sys_path"]
    _set_title(f"rmlab:{spec['plan'].node_id}")
    worker: Process | None = None
    try:
        worker = Process(spec, report)
    except Exception as exc:
        stage = _stage_of(exc)
        report(
            {
                "event": "start-failed",
                "message": f"{type(exc).__name__} in {stage}: {exc}",
                "traceback": traceback.format_exc(),
            }
        )
        return 1
    try:
        worker.run()
    finally:
        worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
