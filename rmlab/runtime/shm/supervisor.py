"""The shared-memory executor: one worker process per node, frames over iceoryx2.

``ShmSession`` creates the services, doorbells and board, starts every worker in
parallel (``python -m rmlab.runtime.shm.worker``, never ``fork``), waits for each
READY, then runs two threads:

- no receiver thread: ``pull`` itself sleeps on the session's doorbell and turns
  samples from sinks and taps into ``Output``s (zero-copy views), error records into
  ``NodeError``s and the last ``EndOfInput`` into the end of the session. That saves
  a thread wake-up per output (50-250 us on a VM); outputs nobody pulls wait in
  iceoryx2's buffers, where drop-oldest drops (and counts) them, and a "block" push
  that waits for credit drains them, so pushing everything before pulling cannot
  deadlock;
- a supervisor thread watches every worker's stdout, stderr and exit (pidfd): a dead
  worker becomes ``NodeCrashed`` within milliseconds, and the node's restart
  policy from the manifest decides whether it is started again.

Closing stops the workers (EOF on stdin), joins the threads and removes every
iceoryx2 resource and the board, so nothing is left in /dev/shm or the process table.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pickle
import select
import selectors
import shutil
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any

from rmlab.data import EndOfInput, RuntimeData
from rmlab.errors import ExecutorError, NodeCrashed, NodeError, SessionError, Timeout
from rmlab.runtime.graph import Graph
from rmlab.runtime.session import Session
from rmlab.runtime.shm.channels import (
    ALL_SOURCES,
    KIND_ERROR,
    Board,
    Inlet,
    Outlet,
    drain,
    iox_node,
    ring,
    service,
)
from rmlab.runtime.trace import Hop, Trace

__all__ = ["ShmSession"]

_BOARD_GLOB = "/dev/shm/rmlab-board-*"
_CHUNK_ESTIMATE = 8 * 1024  # initial sample size (4 KiB slice + header), before any growth
_STDERR_LINES = 40


class _Worker:
    """One worker process and what the session knows about it."""

    def __init__(self, node_id: str, spec: dict[str, Any], fds: list[int]):
        self.node_id = node_id
        self.spec = spec
        self.fds = fds
        self.proc: subprocess.Popen[bytes] | None = None
        self.pidfd = -1
        self.ready = threading.Event()
        self.failure: NodeError | None = None
        self.stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._partial = b""
        self.restarts = 0

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.ready.clear()
        self.failure = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rmlab.runtime.shm.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=self.fds,
            start_new_session=True,  # Ctrl-C in a terminal reaches the session, not its workers
            env=env,
        )
        assert self.proc.stdin is not None
        blob = pickle.dumps(self.spec, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(len(blob).to_bytes(8, "little") + blob)
        self.proc.stdin.flush()
        self.pidfd = os.pidfd_open(self.proc.pid)

    def tail(self) -> str:
        return "".join(self.stderr)

    def on_stderr(self, chunk: bytes) -> None:
        text = (self._partial + chunk).decode("utf-8", "replace")
        lines = text.splitlines(keepends=True)
        self._partial = lines.pop().encode() if lines and not lines[-1].endswith("\n") else b""
        self.stderr.extend(lines)

    def control(self, msg: dict[str, Any]) -> None:
        """Send a control message (a JSON line on stdin); the worker applies it between frames."""
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):  # dead: the supervisor reports it
                self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
                self.proc.stdin.flush()

    def close_stdin(self) -> None:
        """Tell the worker to stop (EOF on its stdin); it tears its node down and exits."""
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()

    def stop(self, timeout: float) -> None:
        proc = self.proc
        if proc is None:
            return
        self.close_stdin()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                f.close()  # type: ignore[union-attr]
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


class ShmSession(Session):
    """Runs every node in its own process; frames move through iceoryx2 shared memory."""

    executor = "shm"

    def __init__(
        self,
        graph: Graph,
        *,
        start_timeout: float = 30.0,
        max_frame_bytes: int = 64 * 1024 * 1024,
        **kwargs: Any,
    ):
        super().__init__(graph, **kwargs)
        if max_frame_bytes < 1024:
            raise SessionError(f"max_frame_bytes must be at least 1024, got {max_frame_bytes}")
        self._closing = False
        self._crashed: NodeCrashed | None = None
        self._workers: dict[str, _Worker] = {}
        self._fds: list[int] = []
        self._inlets: dict[int, Inlet] = {}
        self._inlets_lock = threading.Lock()
        self._rx_lock = threading.Lock()  # one thread receives at a time
        self._push_lock = threading.Lock()
        self._seen_errors: set[int] = set()
        self._eoi: set[int] = set()
        self._threads: list[threading.Thread] = []
        self._last_drops: dict[str, int] = {}
        self._board: Board | None = None
        self._iox: Any = None
        self._in: Outlet | None = None
        if graph.is_loopback:
            return  # nothing to run: the base Session returns inputs unchanged
        try:
            self._build(start_timeout, max_frame_bytes)
        except BaseException:
            self._shutdown()
            raise

    # -- start -------------------------------------------------------------------

    def _build(self, start_timeout: float, max_frame: int) -> None:
        import cloudpickle

        g = self.graph
        order = list(g.order)
        n = len(order)
        idx = {nid: i for i, nid in enumerate(order)}
        self._idx, self._order, self._n = idx, order, n
        self._buffer = min(self.queue_size, 16)
        self._borrowed = 8
        # a zero here is a fatal Rust panic in iceoryx2, hence the 1
        max_subs = max([1, len(g.sources), *(len(g.successors[i]) + 1 for i in order)])
        _check_dev_shm(n + 1, max_subs, self._buffer + self._borrowed)
        _remove_stale_boards()

        sid = self.session_id
        self._iox = iox_node(f"rmlab-{sid}-session")
        self._iox.try_cleanup_dead_nodes()  # stale resources of workers killed earlier
        self._board = board = Board(f"/dev/shm/rmlab-board-{sid}", n, create=True)
        names = [f"rmlab/{sid}/out/{i}" for i in range(n)] + [f"rmlab/{sid}/in"]
        kw = {"buffer": self._buffer, "borrowed": self._borrowed}
        self._services = [service(self._iox, nm, max_subscribers=max_subs, create=True, **kw)
                          for nm in names]  # fmt: skip

        self._bells = bells = [self._pipe() for _ in range(n)]  # (read, write) per worker
        self._bell_r, self._bell_w = self._pipe()  # sinks and taps ring the session
        self._credit_r, self._credit_w = self._pipe()  # sources ring a session waiting to push
        self._wake_r, self._wake_w = self._pipe()  # errors and close() wake a waiting pull
        self._sup_r, self._sup_w = self._pipe()  # close() wakes the supervisor
        block = self.backpressure == "block"
        self._poller = select.poll()
        self._poller.register(self._bell_r, select.POLLIN)
        self._poller.register(self._wake_r, select.POLLIN)
        for nid in g.sinks:
            board.session_sub[idx[nid]] = 1
        self._in = Outlet(
            self._services[n], n, board=board, consumers=[idx[s] for s in g.sources],
            doorbells=[bells[idx[s]][1] for s in g.sources], session_fd=-1,
            credit_fd=self._credit_r, block=block, buffer=self._buffer,
            max_frame=max_frame, label="push()",
        )  # fmt: skip
        self._in.also_poll = (self._bell_r,)
        self._in.on_wait = self._while_push_waits
        for nid in g.sinks:
            self._subscribe(idx[nid])

        common = {
            "sid": sid, "n": n, "names": names, "board": board.path, "buffer": self._buffer,
            "borrowed": self._borrowed, "max_subs": max_subs, "block": block,
            "max_frame": max_frame, "parent_pid": os.getpid(), "sys_path": list(sys.path),
        }  # fmt: skip
        for nid in order:
            i = idx[nid]
            preds = [idx[p] for p in g.predecessors[nid]] or [n]
            credit = [bells[p][1] if p < n else self._credit_w for p in preds]
            succ = [idx[s] for s in g.successors[nid]]
            spec = dict(
                common,
                node_id=nid,
                index=i,
                cls=cloudpickle.dumps(g.node_class(nid)),
                params=g.manifest.node(nid).params,
                inputs=preds,
                input_credit_fds=credit,
                successors=succ,
                doorbell=bells[i][0],
                succ_doorbells=[bells[s][1] for s in succ],
                session_doorbell=self._bell_w,
                restart=g.manifest.node(nid).restart or {},
            )
            fds = sorted({bells[i][0], *credit, *spec["succ_doorbells"], self._bell_w})
            self._workers[nid] = _Worker(nid, spec, fds)
        self._workers_started = threading.Event()
        self._start_error: BaseException | None = None
        self._start_threads()  # the supervisor thread starts the workers: see _supervise
        self._workers_started.wait()
        if self._start_error is not None:
            raise ExecutorError(f"cannot start a worker: {self._start_error}") from (
                self._start_error
            )
        self._wait_ready(list(self._workers.values()), start_timeout)

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._fds += [r, w]
        return r, w

    def _subscribe(self, producer: int) -> None:
        assert self._board is not None
        inlet = Inlet(
            self._services[producer], producer, self._n, board=self._board,
            borrowed=self._borrowed, credit_fd=self._credit_fd_of(producer),
            block=self.backpressure == "block",
        )  # fmt: skip
        inlet.start_at(int(self._board.published[producer]))
        with self._inlets_lock:
            self._inlets[producer] = inlet
        self._board.session_sub[producer] = 1

    def _credit_fd_of(self, producer: int) -> int:
        return self._bells[producer][1]  # the producer's doorbell: it waits there for credit

    def _wait_ready(self, workers: list[_Worker], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for w in workers:
            if not w.ready.wait(max(0.0, deadline - time.monotonic())):
                raise ExecutorError(
                    f"node {w.node_id!r} did not start within {timeout:g} s "
                    f"(a slow import or setup()?); its stderr:\n{w.tail() or '(empty)'}"
                )
            if w.failure is not None:
                raise w.failure

    # -- threads --------------------------------------------------------------------

    def _start_threads(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sup_r, selectors.EVENT_READ, ("wake", None))
        t = threading.Thread(
            target=self._supervise, name=f"rmlab-shm-supervisor-{self.session_id}", daemon=True
        )
        self._threads.append(t)
        t.start()

    def _sel_add(self, w: _Worker) -> None:
        assert w.proc is not None and w.proc.stdout is not None and w.proc.stderr is not None
        self._sel.register(w.proc.stdout, selectors.EVENT_READ, ("stdout", w))
        self._sel.register(w.proc.stderr, selectors.EVENT_READ, ("stderr", w))
        self._sel.register(w.pidfd, selectors.EVENT_READ, ("exit", w))

    def _supervise(self) -> None:
        # Workers are started here, not on the caller's thread: PR_SET_PDEATHSIG fires when
        # the *thread* that forked a child exits, so workers started from a short-lived
        # thread (asyncio.to_thread, a widget handler) would be killed with it. This thread
        # lives exactly as long as the session, and restarts happen here too.
        try:
            for w in self._workers.values():
                w.start()
                self._sel_add(w)
        except BaseException as exc:
            self._start_error = exc
        finally:
            self._workers_started.set()
        while not self._closing:
            for key, _ in self._sel.select(timeout=0.5):
                kind, w = key.data
                if kind == "wake":
                    drain(self._sup_r)
                elif kind == "stdout":
                    line = key.fileobj.readline()  # type: ignore[union-attr]
                    if line:
                        self._on_report(w, json.loads(line))
                    else:
                        self._sel.unregister(key.fileobj)
                elif kind == "stderr":
                    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                    if chunk:
                        w.on_stderr(chunk)
                    else:
                        self._sel.unregister(key.fileobj)
                elif kind == "exit":
                    self._sel.unregister(key.fileobj)
                    if not self._closing:
                        self._on_exit(w)

    def _on_report(self, w: _Worker, msg: dict[str, Any]) -> None:
        if msg.get("event") == "ready":
            w.ready.set()
        elif msg.get("event") == "setup-failed":
            w.failure = NodeError(w.node_id, msg["message"], msg.get("traceback", ""))
            w.ready.set()

    def _on_exit(self, w: _Worker) -> None:
        assert w.proc is not None
        rc = w.proc.wait()
        time.sleep(0.02)  # let the stderr reader take the last lines
        self._drain_stderr(w)
        err = NodeCrashed(
            w.node_id,
            exit_code=rc if rc >= 0 else None,
            signal=-rc if rc < 0 else None,
            stderr_tail=w.tail(),
        )
        if w.failure is not None or not w.ready.is_set():  # died while starting
            w.failure = w.failure or err
            w.ready.set()
            return
        policy = w.spec["restart"]
        if policy.get("policy") == "on-failure" and w.restarts < policy.get("max_restarts", 3):
            self._fail(err)
            w.restarts += 1
            w.stop(1.0)
            self._iox.try_cleanup_dead_nodes()
            w.start()
            self._sel_add(w)
            return
        self._crashed = err
        self._fail(err)
        self._ended()  # the pipeline cannot finish without this node

    def _drain_stderr(self, w: _Worker) -> None:
        if w.proc is None or w.proc.stderr is None:
            return
        with contextlib.suppress(OSError, ValueError):
            os.set_blocking(w.proc.stderr.fileno(), False)
            while chunk := os.read(w.proc.stderr.fileno(), 65536):
                w.on_stderr(chunk)

    # -- receiving, on demand ----------------------------------------------------------

    def _next_item(self, timeout: float | None) -> Any:
        if self.graph.is_loopback:
            return super()._next_item(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            item = self._out.get_nowait()
            if item is not None:
                return item
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise Timeout(f"nothing arrived within {timeout} s")
            if self._rx_lock.acquire(blocking=False):
                try:
                    if self._receive_available():
                        continue
                    ms = -1 if remaining is None else max(1, int(remaining * 1000))
                    self._poller.poll(ms)  # GIL released: the one wake-up of this hop
                    drain(self._wake_r)
                finally:
                    self._rx_lock.release()
            else:  # another thread is receiving: it puts what it gets in the queue
                with contextlib.suppress(Timeout):
                    return self._out.get(0.05 if remaining is None else min(remaining, 0.05))

    async def _anext_item(self, timeout: float | None) -> Any:
        import asyncio

        if self.graph.is_loopback:
            return await super()._anext_item(timeout)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            item = self._out.get_nowait()
            if item is not None:
                return item
            if self._rx_lock.acquire(blocking=False):
                try:
                    got = self._receive_available()
                finally:
                    self._rx_lock.release()
                if got:
                    continue
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise Timeout(f"nothing arrived within {timeout} s")
            fut: asyncio.Future[None] = loop.create_future()

            def wake(fut: asyncio.Future[None] = fut) -> None:
                if not fut.done():
                    fut.set_result(None)

            loop.add_reader(self._bell_r, wake)
            self._out.add_async_waiter(loop, fut)  # errors and items other threads received
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                raise Timeout(f"nothing arrived within {timeout} s") from None
            finally:
                loop.remove_reader(self._bell_r)

    def _receive_available(self) -> int:
        """Move every sample waiting for the session into the output queue (hold _rx_lock)."""
        drain(self._bell_r)  # first, so a ring after this point means "more to receive"
        count = 0
        progress = True
        while progress and not self._closing:
            progress = False
            with self._inlets_lock:
                inlets = list(self._inlets.values())
            for inlet in inlets:
                while (data := inlet.receive()) is not None:
                    progress = True
                    count += 1
                    self._on_sample(inlet, data)
        return count

    def _while_push_waits(self) -> None:
        """A "block" push waiting for credit: give up if closed, drain outputs meanwhile."""
        self._check_alive()
        if self._rx_lock.acquire(blocking=False):
            try:
                self._receive_available()
            finally:
                self._rx_lock.release()

    def _fail(self, error: NodeError) -> None:
        super()._fail(error)
        if not self.graph.is_loopback:
            ring(self._wake_w)  # a pull asleep on the doorbell must see it

    def _ended(self) -> None:
        super()._ended()
        if not self.graph.is_loopback:
            ring(self._wake_w)

    def _on_sample(self, inlet: Inlet, data: RuntimeData | bytes) -> None:
        h = inlet.header
        if h.kind == KIND_ERROR:
            if h.seq not in self._seen_errors:  # fan-out can bring one error by several paths
                self._seen_errors.add(h.seq)
                rec = json.loads(bytes(data))  # type: ignore[arg-type]
                self._fail(NodeError(rec["node_id"], rec["message"], rec["traceback"]))
            return
        if isinstance(data, EndOfInput):
            self._eoi.add(inlet.producer)
            sinks = {self._idx[s] for s in self.graph.sinks}
            if sinks <= self._eoi:
                self._receive_all_once_more()
                self._ended()
            return
        order = self._order
        hops = tuple(
            Hop(order[h.hop_node[i]], h.hop_recv[i], h.hop_done[i]) for i in range(h.nhops)
        )
        for hop in hops:
            self._rec.hop(hop.node_id, hop.done_ns - hop.recv_ns)
        self._deliver(order[inlet.producer], data, Trace(h.seq, h.origin_ns, hops))  # type: ignore[arg-type]

    def _receive_all_once_more(self) -> None:
        with self._inlets_lock:
            inlets = list(self._inlets.values())
        for inlet in inlets:
            while (data := inlet.receive()) is not None:
                if not isinstance(data, EndOfInput):
                    self._on_sample(inlet, data)

    def _check_alive(self) -> None:
        if self._crashed is not None:
            raise SessionError(f"the session cannot continue: {self._crashed}")
        if self._closing:
            raise SessionError("the session was closed while push() was waiting")

    # -- Session hooks ------------------------------------------------------------------

    def _submit(self, frame: RuntimeData, targets: tuple[str, ...], trace: Trace) -> None:
        self._check_alive()
        target = ALL_SOURCES if targets == self.graph.sources else self._idx[targets[0]]
        assert self._in is not None
        with self._push_lock:
            self._in.send(frame, seq=trace.seq, origin_ns=trace.origin_ns, target=target)

    def _finish(self) -> None:
        assert self._in is not None
        with self._push_lock:
            self._in.send(EndOfInput(), seq=-1, origin_ns=time.monotonic_ns())

    def _set_params(self, node_id: str, params: dict[str, Any]) -> None:
        w = self._workers[node_id]
        w.spec["params"] = dict(self.graph.manifest.node(node_id).params)  # restarts keep them
        w.control({"op": "set_params", "params": params})
        assert self._board is not None
        self._board.control[self._idx[node_id]] += 1  # after the write: see Board.control

    def _tapped(self, node_id: str) -> None:
        i = self._idx[node_id]
        if i not in self._inlets:
            self._subscribe(i)

    def _drops(self) -> dict[str, int]:
        b = self._board
        if b is None or b.drops is None:
            return dict(self._last_drops)
        names = [*self._order, "session"]
        drops = {}
        n = self._n
        for c in range(n + 1):
            for p in range(n + 1):
                v = int(b.drops[c, p])
                if v:
                    src = "session" if p == n else names[p]
                    drops[f"{src}->{names[c]}"] = v
        drops.update(super()._drops())
        self._last_drops = drops
        return drops

    def _restarts(self) -> dict[str, int]:
        return {nid: w.restarts for nid, w in self._workers.items()}

    def _shutdown(self) -> None:
        if getattr(self, "_done", False):
            return
        self._done = True
        self._drops()  # keep the last counts for stats() after close
        self._closing = True
        for w in self._workers.values():
            w.close_stdin()  # EOF: every worker tears down at once, in parallel
        if hasattr(self, "_wake_w"):
            ring(self._wake_w)
            ring(self._sup_w)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        deadline = time.monotonic() + 3.0
        for w in self._workers.values():
            w.stop(max(0.1, deadline - time.monotonic()))
        with self._inlets_lock:
            for inlet in self._inlets.values():
                inlet.close()
            self._inlets.clear()
        if self._in is not None:
            self._in.close()
        self._services = []
        if self._board is not None:
            self._board.close()
            self._board.unlink()
        self._iox = None  # the node's resources go with its last reference
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        if hasattr(self, "_sel"):
            self._sel.close()


def _check_dev_shm(services: int, subscribers: int, slots: int) -> None:
    """Fail early and clearly when /dev/shm is too small (Docker and Binder give 64 MB)."""
    need = services * (subscribers * slots + 2) * _CHUNK_ESTIMATE
    try:
        free = shutil.disk_usage("/dev/shm").free
    except OSError as exc:
        raise ExecutorError(f"/dev/shm is not usable ({exc}); the shm executor needs it") from exc
    if free < need + 8 * 1024 * 1024:
        raise ExecutorError(
            f"/dev/shm has only {free / 2**20:.1f} MiB free; this pipeline needs about "
            f"{need / 2**20 + 8:.1f} MiB. Free space there, start Docker with --shm-size=1g, "
            "or use executor='local'"
        )


def _remove_stale_boards() -> None:
    """Remove board files left by sessions whose process died."""
    for path in glob.glob(_BOARD_GLOB):
        pid = Board.owner_pid(path)
        if pid is None or not _alive(pid):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
