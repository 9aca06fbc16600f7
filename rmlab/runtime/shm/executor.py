"""The shared-memory executor: one worker process per node, frames over iceoryx2.

``ShmExecutor`` turns a ``Plan`` into services, doorbells and the board, starts
the workers through a ``Supervisor`` and waits for every READY. Then:

- ``submit`` encodes the frame straight into a loan of the session's input channel
  and rings the sources' doorbells; in "block" mode it first waits for credit, and
  while it waits it receives outputs into a backlog, so a caller who pushes
  everything before pulling cannot deadlock;
- there is no receiver thread: ``receive`` takes what waits for the session (outputs
  of sinks and taps as zero-copy read-only views, error records as ``NodeError``,
  the sinks' ``EndOfInput`` as ``Ended``), reads each node's call counters and drop
  counters from the board (``HopDone``, ``Dropped``) and what the supervisor
  reported (crashes, restarts). That saves a thread wake-up per output (50-250 us
  on a VM); outputs nobody receives wait in iceoryx2's buffers (``queue_size``
  each), where drop-oldest drops and counts them.

A node placed on Ray (``"execution": {"placement": "remote"}``) has no worker
process: a bridge thread here (``rmlab.runtime.ray.bridge``) takes its place on the
channels and runs its frames on its actors.

``close`` stops the workers (EOF on stdin), then removes every iceoryx2 resource and
the board, so nothing is left in /dev/shm or the process table. The ``Session``
calls it only once no other call is inside the executor.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import sys
import threading
import time
from collections import deque
from typing import Any

from rmlab.data import EndOfInput, RuntimeData
from rmlab.errors import ExecutorError, NodeCrashed, NodeError, SessionClosed, SessionError
from rmlab.runtime.executor import (
    Dropped,
    Ended,
    Event,
    ExecutorContext,
    HopDone,
    NodeFailed,
    NodeRestarted,
    Output,
)
from rmlab.runtime.graph import Graph
from rmlab.runtime.ray.placement import cluster_configured, ray_option, remote_placements
from rmlab.runtime.shm.channels import (
    ALL_SOURCES,
    KIND_ERROR,
    Board,
    Inlet,
    Outlet,
    cleanup_dead,
    drain,
    iox_node,
    ring,
    service,
)
from rmlab.runtime.shm.plan import Plan
from rmlab.runtime.shm.supervise import Supervisor, WorkerProcess
from rmlab.runtime.trace import Hop, Trace

__all__ = ["ShmExecutor"]

_BOARD_GLOB = "/dev/shm/rmlab-board-*"


class ShmExecutor:
    """Runs every node in its own process; frames move through iceoryx2 shared memory."""

    def __init__(self, graph: Graph, context: ExecutorContext):
        self._ray = ray_option("shm", context)
        self.graph = graph
        self.plan = plan = Plan.of(graph, context.session_id, context.queue_size)
        self._ctx = context
        self._block = context.backpressure == "block"
        self._fds: list[int] = []
        self._inlets: dict[int, Inlet] = {}
        self._board: Board | None = None
        self._iox: Any = None
        self._in: Outlet | None = None
        self._sup: Supervisor | None = None
        self._bridges: Any = None  # rmlab.runtime.ray.bridge.Bridges, for nodes on Ray
        self._workers: dict[str, WorkerProcess] = {}  # by the first node of each process
        self._process: dict[str, WorkerProcess] = {}  # the process of every node
        self._services: list[Any] = []
        self._rx = threading.Lock()  # receive() and a credit-waiting submit()
        self._push_lock = threading.Lock()
        self._reports: deque[Event] = deque()  # from the supervisor thread
        self._backlog: list[Event] = []  # received while a block push waited
        self._seen_errors: set[int] = set()
        self._eoi: set[int] = set()
        self._ended = False
        self._calls_seen: Any = None
        self._drops_seen: bytes = b""
        self._drops_last: Any = None
        self._lat_count = [0] * plan.n
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- start -------------------------------------------------------------------

    def _build(self) -> None:
        import cloudpickle

        plan, ctx, g = self.plan, self._ctx, self.graph
        n = plan.n
        _check_dev_shm(plan.shm_estimate())
        _remove_stale_boards()
        self._iox = iox_node(f"rmlab-{plan.session_id}-session")
        cleanup_dead(self._iox)  # stale resources of workers killed earlier
        self._board = board = Board(plan.board_path, n, create=True)
        kw = {"buffer": plan.buffer, "borrowed": plan.borrowed}
        self._services = [
            service(self._iox, nm, max_subscribers=plan.max_subscribers, create=True, **kw)
            for nm in plan.services
        ]
        bells = [self._pipe() for _ in range(plan.bells)]  # (read, write)
        self._bells = bells
        self._bell_r, self._bell_w = bells[plan.SESSION]
        self._credit_r = bells[plan.CREDIT][0]
        for s in plan.sinks:
            board.session_sub[s] = 1
        source_bells = dict.fromkeys(plan.workers[s].doorbell for s in plan.sources)
        self._in = Outlet(
            self._services[n], n, board=board, consumers=list(plan.sources),
            doorbells=[bells[b][1] for b in source_bells], session_fd=-1,
            credit_fd=self._credit_r, block=self._block, buffer=plan.buffer,
            max_frame=ctx.max_frame_bytes, label="push()",
        )  # fmt: skip
        self._in.also_poll = (self._bell_r, ctx.cancel.fd)
        self._in.on_wait = self._while_push_waits
        for s in plan.sinks:
            self._subscribe(s)

        session = {
            "sid": plan.session_id, "n": n, "order": plan.order, "names": plan.services,
            "board": plan.board_path, "buffer": plan.buffer, "borrowed": plan.borrowed,
            "max_subs": plan.max_subscribers, "block": self._block,
            "max_frame": ctx.max_frame_bytes,
        }  # fmt: skip
        remote = remote_placements(g, every_node=False, configured=cluster_configured(self._ray))
        if remote:  # their actors start now, while the worker processes start
            from rmlab.runtime.ray.bridge import Bridges

            self._bridges = Bridges(g, remote, self._ray, self._on_report, ctx.start_timeout)
        workers = []
        bridged = {}
        for members in plan.processes:
            wps = [plan.workers[i] for i in members]
            leader = wps[0]
            bell_r = bells[leader.doorbell][0]
            entries = []
            for wp in wps:
                fds = {
                    "doorbell": bell_r,
                    "successors": [bells[b][1] for b in wp.successor_bells],
                    "input_credit": [bells[b][1] for b in wp.input_credit_bells],
                    "session": self._bell_w,
                }
                if wp.node_id in remote:  # a bridge in this process, to the node's actors
                    bridged[wp.node_id] = {"plan": wp, "session": session, "fds": fds}
                    continue
                entries.append({
                    "plan": wp,
                    "fds": fds,
                    "cls": cloudpickle.dumps(g.node_class(wp.node_id)),
                    "params": g.manifest.node(wp.node_id).params,
                    # predecessors in the same process: they end by call, too
                    "local_inputs": sum(wp.index in o.local_successors for o in wps),
                })  # fmt: skip
            if not entries:
                continue
            spec = {
                "plan": leader,  # the process's name, and its restart policy
                "session": session,
                "fds": {"doorbell": bell_r, "session": self._bell_w},
                "nodes": entries,
                "parent_pid": os.getpid(),
                "sys_path": list(sys.path),
            }
            pass_fds = {bell_r, self._bell_w}
            for e in entries:
                pass_fds.update(e["fds"]["successors"], e["fds"]["input_credit"])
            workers.append(WorkerProcess(leader.node_id, spec, sorted(pass_fds)))
            for e in entries:
                self._process[e["plan"].node_id] = workers[-1]
        self._workers = {w.node_id: w for w in workers}
        self._sup = Supervisor(
            workers,
            report=self._on_report,
            before_restart=self._before_restart,
            name=f"rmlab-shm-supervisor-{plan.session_id}",
        )
        t0 = time.monotonic()
        self._sup.start(ctx.start_timeout)
        if self._bridges is not None:
            self._bridges.start(bridged, max(0.1, ctx.start_timeout - (time.monotonic() - t0)))

    def _pipe(self) -> tuple[int, int]:
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._fds += [r, w]
        return r, w

    def _subscribe(self, producer: int) -> None:
        assert self._board is not None
        bell = self._bells[self.plan.workers[producer].doorbell][1]  # the producer's process
        inlet = Inlet(
            self._services[producer], producer, self.plan.n, board=self._board,
            borrowed=self.plan.borrowed, credit_fd=bell, block=self._block,
        )  # fmt: skip
        inlet.start_at(int(self._board.published[producer]))
        self._inlets[producer] = inlet
        self._board.session_sub[producer] = 1

    def _on_report(self, event: Event) -> None:
        """Supervisor thread: a crash, restart or end; wake whoever waits for events."""
        self._reports.extend(self._per_node(event))
        ring(self._bell_w)

    def _per_node(self, event: Event) -> list[Event]:
        """A process's crash or restart as events of its nodes: a crash is the node that
        was running (the board says), a restart restarts every node of the process."""
        nid = getattr(event, "node_id", None) or getattr(getattr(event, "error", None),
                                                         "node_id", None)  # fmt: skip
        members = self.plan.process_of(self.plan.index(nid)) if nid in self.plan.order else ()
        if len(members) < 2:
            return [event]
        if isinstance(event, NodeRestarted):
            order = self.plan.order
            return [NodeRestarted(order[i], event.restarts) for i in members]
        err = getattr(event, "error", None)
        if isinstance(event, NodeFailed) and isinstance(err, NodeCrashed):
            b = self._board
            running = b.q[b.at_active + members[0]] - 1 if b is not None and b.q else -1
            if running in members and self.plan.order[running] != nid:
                return [NodeFailed(NodeCrashed(
                    self.plan.order[running], exit_code=err.exit_code, signal=err.signal,
                    stderr_tail=err.stderr_tail, reason=err.message,
                ))]  # fmt: skip
        return [event]

    def _before_restart(self) -> None:
        cleanup_dead(self._iox)

    # -- Executor ----------------------------------------------------------------

    def submit(self, frame: RuntimeData, target: str | None, trace: Trace) -> None:
        self._check_alive()
        tgt = ALL_SOURCES if target is None else self.plan.index(target)
        assert self._in is not None
        with self._push_lock:
            self._in.send(frame, seq=trace.seq, origin_ns=trace.origin_ns, target=tgt)

    def finish(self) -> None:
        assert self._in is not None
        with self._push_lock:
            self._in.send(EndOfInput(), seq=-1, origin_ns=time.monotonic_ns())

    def fileno(self) -> int:
        return self._bell_r

    def receive(self) -> list[Event]:
        with self._rx:
            events = self._receive_locked()
        return events

    def set_params(self, node_id: str, params: dict[str, Any]) -> None:
        if self._bridges is not None and node_id in self._bridges:
            self._bridges.control(node_id, params)
            return
        w = self._process[node_id]
        for e in w.spec["nodes"]:  # a restart starts the node with its params of now
            if e["plan"].node_id == node_id:
                e["params"] = dict(self.graph.manifest.node(node_id).params)
        w.control({"op": "set_params", "node": node_id, "params": params})
        assert self._board is not None
        self._board.control[self.plan.index(node_id)] += 1  # after the write: see Board.control

    def tap(self, node_id: str) -> None:
        i = self.plan.index(node_id)
        if i not in self._inlets:
            self._subscribe(i)

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        errors = self._bridges.stop() if self._bridges is not None else []
        if self._sup is not None:
            self._sup.stop()
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
        if errors:
            raise errors[0]  # a remote node's teardown failed

    # -- receiving -------------------------------------------------------------------

    def _receive_locked(self) -> list[Event]:
        drain(self._bell_r)  # first, so a ring after this point means "more to receive"
        events, self._backlog = self._backlog, []
        budget = self.plan.borrowed - 1  # zero-copy views the caller may hold at once
        again = True
        while again and budget > 0:
            again = False
            for inlet in list(self._inlets.values()):
                while budget > 0 and (data := inlet.receive()) is not None:
                    again = True
                    budget -= self._on_sample(inlet, data, events)
        if budget <= 0:
            ring(self._bell_w)  # stopped early: make the next wait return at once
        self._hops(events)
        self._drops(events)
        while self._reports:
            ev = self._reports.popleft()
            if isinstance(ev, Ended):
                if self._ended:
                    continue
                self._ended = True
            events.append(ev)
        return events

    def _on_sample(self, inlet: Inlet, data: RuntimeData | bytes, events: list[Event]) -> int:
        """Turn one sample into events; returns how many zero-copy views it lends out."""
        h = inlet.header
        if h.kind == KIND_ERROR:
            if h.seq not in self._seen_errors:  # fan-out can bring one error by several paths
                self._seen_errors.add(h.seq)
                rec = json.loads(bytes(data))  # type: ignore[arg-type]
                events.append(NodeFailed(NodeError(rec["node_id"], rec["message"],
                                                   rec["traceback"])))  # fmt: skip
            return 0
        if isinstance(data, EndOfInput):
            self._eoi.add(inlet.producer)
            if set(self.plan.sinks) <= self._eoi and not self._ended:
                self._receive_rest(events)
                self._hops(events)  # every call before the end is counted by now
                self._ended = True
                events.append(Ended())
            return 0
        order, k = self.plan.order, h.nhops
        # slices of the ctypes arrays: one call each, not one per element
        hops = tuple(
            Hop(order[a], b, c)
            for a, b, c in zip(h.hop_node[:k], h.hop_recv[:k], h.hop_done[:k], strict=True)
        )
        trace = Trace(h.seq, h.origin_ns, hops, time.monotonic_ns())
        events.append(Output(order[inlet.producer], data, trace))  # type: ignore[arg-type]
        return 1

    def _receive_rest(self, events: list[Event]) -> None:
        for inlet in self._inlets.values():
            while (data := inlet.receive()) is not None:
                if not isinstance(data, EndOfInput):
                    self._on_sample(inlet, data, events)

    def _hops(self, events: list[Event]) -> None:
        """One ``HopDone`` per completed ``process`` call since the last look at the board."""
        b = self._board
        if b is None or b.q is None:
            return
        q, at_calls, at_lat = b.q, b.at_calls, b._lat_at
        counts = q[at_calls : at_calls + self.plan.n].tolist()  # one copy, compared whole
        if counts == self._calls_seen:
            return
        self._calls_seen = counts
        order, ring_size, seen = self.plan.order, Board.RING, self._lat_count
        for i, count in enumerate(counts):
            new = count - seen[i]
            if new <= 0:
                continue
            nid = order[i]
            kept = min(new, ring_size)
            first = count - kept + 1
            for c in range(first, count + 1):
                j = at_lat + (i * ring_size + (c - 1) % ring_size) * 2
                # the oldest kept sample stands for calls whose samples were overwritten
                events.append(HopDone(nid, q[j], q[j + 1], 1 + (new - kept if c == first else 0)))
            seen[i] = count

    def _drops(self, events: list[Event]) -> None:
        b = self._board
        if b is None or b.drops is None:
            return
        raw = b.drops.tobytes()
        if raw == self._drops_seen:
            return
        self._drops_seen = raw
        now = b.drops.copy()
        last = self._drops_last if self._drops_last is not None else 0 * now
        names = [*self.plan.order, "session"]
        n = self.plan.n
        for c, p in zip(*(now - last).nonzero(), strict=True):
            src = "session" if p == n else names[p]
            events.append(Dropped(f"{src}->{names[c]}", int(now[c, p] - last[c, p])))
        self._drops_last = now

    def _while_push_waits(self) -> None:
        """A "block" push waiting for credit: give up if closing, receive meanwhile."""
        self._check_alive()
        if self._ctx.cancel.is_set():
            raise SessionClosed("the session was closed while push() was waiting")
        if self._rx.acquire(blocking=False):
            try:
                self._backlog = self._receive_locked()  # it starts from the old backlog
            finally:
                self._rx.release()

    def _check_alive(self) -> None:
        crashed = self._sup.crashed if self._sup is not None else None
        if crashed is None and self._bridges is not None:
            crashed = self._bridges.crashed
        if crashed is not None:
            raise SessionError(f"the session cannot continue: {crashed}")

    @staticmethod
    def warm_up() -> None:
        """Start the fork server now (``rmlab.warm_up``), without waiting for it."""
        from rmlab.runtime.shm._launch import warm_up

        warm_up()

    def shared_memory(self) -> int:
        """Bytes of /dev/shm this session occupies, counted by the pages in use (iceoryx2
        reserves sparse files far larger than what frames ever touch).

        The files are those the session's workers map (every channel has a worker at
        one end; the session's own process may map other sessions' too) and the board.
        """
        files = {self.plan.board_path}
        for w in self._workers.values():
            if w.pid is None:
                continue
            with contextlib.suppress(OSError), open(f"/proc/{w.pid}/maps") as f:
                files.update(line.split(None, 5)[-1].strip() for line in f
                             if "/dev/shm/rmlab_" in line)  # fmt: skip
        total = 0
        for path in files:
            with contextlib.suppress(OSError):
                total += os.stat(path).st_blocks * 512
        return total

    @property
    def pids(self) -> dict[str, int | None]:
        """The worker process of each node (for ``ps``, ``kill`` or a profiler)."""
        return {nid: w.pid for nid, w in self._process.items()}

    @property
    def restarts(self) -> dict[str, int]:
        remote = self._bridges.restarts if self._bridges is not None else {}
        return {**{nid: w.restarts for nid, w in self._process.items()}, **remote}

    @property
    def remote_nodes(self) -> dict[str, Any]:
        """The ``RemoteNode`` of each node placed on Ray (where it runs: ``.hosts``)."""
        return dict(self._bridges.remote) if self._bridges is not None else {}


def _check_dev_shm(need: int) -> None:
    """Fail early and clearly when /dev/shm is too small (Docker and Binder give 64 MB)."""
    try:
        free = shutil.disk_usage("/dev/shm").free
    except OSError as exc:
        raise ExecutorError(f"/dev/shm is not usable ({exc}); the shm executor needs it") from exc
    if free < need + 8 * 1024 * 1024:
        raise ExecutorError(
            f"/dev/shm has only {free / 2**20:.1f} MiB free; this pipeline needs about "
            f"{need / 2**20 + 8:.1f} MiB. Free space there, start Docker with --shm-size=1g, "
            "open the session with a smaller queue_size, or use executor='local'"
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
