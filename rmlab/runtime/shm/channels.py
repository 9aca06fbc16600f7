"""Channels of the shared-memory executor: iceoryx2 services, doorbells and the board.

Data: each node output is one iceoryx2 publish-subscribe service of ``[u8]``
slices (``rmlab/<session>/out/<index>``; the session's input is
``rmlab/<session>/in``). A frame is encoded straight into a loan, so the array
bytes are copied exactly once per hop; successors, the session and taps all
subscribe to the same service, so fan-out copies nothing. Every sample carries a
``TraceHeader`` (iceoryx2 user header): sequence numbers, origin time and per-hop
receive/done times.

Wake-ups: one doorbell per consumer, a non-blocking pipe. A producer sends the
sample, then writes one byte to each consumer's doorbell; a consumer drains its
doorbell, then receives until every input is empty, then sleeps in ``poll``
(GIL released, ~0% CPU while idle). Measured on this kind of VM a pipe wake-up
costs 7-10 us against 18-26 us for an iceoryx2 listener, and one doorbell per
process gives one wake-up per hop whatever the fan-in.

Flow control: ``Board`` is a small shared int64 array (a file in /dev/shm) with
per-producer publish counters and per-edge consume counters. In "block" mode a
producer sends only while every subscriber has a free buffer slot, and otherwise
waits on its own doorbell (GIL released), which consumers ring after consuming.
In "drop-oldest" mode iceoryx2's safe overflow replaces the oldest buffered
sample and consumers count the gaps in the per-producer sequence as drops.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from rmlab.data import RuntimeData
from rmlab.errors import ExecutorError, WireError
from rmlab.runtime.shm._errors import board_error, iox_error
from rmlab.wire import decode, prepare

__all__ = [
    "KIND_DATA",
    "KIND_ERROR",
    "MAX_HOPS",
    "Board",
    "Inlet",
    "Outlet",
    "TraceHeader",
    "drain",
    "iox_node",
    "ring",
]

MAX_HOPS = 16
KIND_DATA, KIND_ERROR = 0, 1
ALL_SOURCES = -1
_PREFIX = "rmlab_"  # an iceoryx2 domain of our own: never collides with other iceoryx2 users
_ROOT = "/tmp/rmlab-iceoryx2/"


class TraceHeader(ctypes.Structure):
    """The iceoryx2 user header of every sample (fixed size, lives next to the payload)."""

    _fields_ = [
        ("seq", ctypes.c_int64),  # sequence number of the push this frame derives from
        ("origin_ns", ctypes.c_int64),  # monotonic time of that push
        ("pub_seq", ctypes.c_uint64),  # per-publisher counter: gaps are drops
        ("kind", ctypes.c_uint8),  # KIND_DATA or KIND_ERROR (payload: JSON error record)
        ("nhops", ctypes.c_uint8),
        ("target", ctypes.c_int16),  # session input only: ALL_SOURCES or one node index
        ("_pad", ctypes.c_uint32),
        ("hop_node", ctypes.c_uint16 * MAX_HOPS),
        ("hop_recv", ctypes.c_int64 * MAX_HOPS),
        ("hop_done", ctypes.c_int64 * MAX_HOPS),
    ]

    @staticmethod
    def type_name() -> str:
        return "rmlab::TraceHeader::v1"


HEADER_SIZE = ctypes.sizeof(TraceHeader)


def iox_node(name: str) -> Any:
    """An iceoryx2 node in rmlab's own domain, with iceoryx2's signal handlers disabled.

    iceoryx2's default handlers would swallow SIGINT/SIGTERM process-wide (a
    notebook's Interrupt would stop working), so they are always disabled.
    """
    import iceoryx2 as iox

    iox.set_log_level_from_env_or(iox.LogLevel.Error)
    try:
        return (
            iox.NodeBuilder.new()
            .config(config())
            .name(iox.NodeName.new(name[:255]))
            .signal_handling_mode(iox.SignalHandlingMode.Disabled)
            .create(iox.ServiceType.Ipc)
        )
    except Exception as exc:
        raise iox_error(f"creating iceoryx2 node {name!r}", exc) from exc


def config() -> Any:
    import iceoryx2 as iox

    try:
        cfg = iox.config.default()
    except Exception as exc:
        raise iox_error("building the iceoryx2 configuration", exc) from exc
    cfg.global_cfg.prefix = iox.FileName.new(_PREFIX)
    cfg.global_cfg.root_path = iox.Path.new(_ROOT)
    return cfg


def service(
    node: Any, name: str, *, max_subscribers: int, buffer: int, borrowed: int, create: bool
) -> Any:
    """Create (session) or open (worker) one publish-subscribe service of byte slices."""
    import iceoryx2 as iox

    try:
        b = (
            node.service_builder(iox.ServiceName.new(name))
            .publish_subscribe(iox.Slice[ctypes.c_uint8])
            .user_header(TraceHeader)
            .payload_alignment(iox.Alignment.new(64))
            .max_publishers(1)
            .max_subscribers(max_subscribers)
            .subscriber_max_buffer_size(buffer)
            .subscriber_max_borrowed_samples(borrowed)
            .enable_safe_overflow(True)
            .history_size(0)
        )
        return b.create() if create else b.open()
    except Exception as exc:
        raise iox_error(f"{'creating' if create else 'opening'} channel {name!r}", exc) from exc


def cleanup_dead(node: Any) -> None:
    """Remove what processes of this domain that died (SIGKILL) left behind."""
    try:
        node.try_cleanup_dead_nodes()
    except Exception as exc:
        raise iox_error("removing resources of dead workers", exc) from exc


# -- doorbells ---------------------------------------------------------------------


def ring(fd: int) -> None:
    """Wake the consumer behind ``fd`` (a full pipe already means "wake up")."""
    try:
        os.write(fd, b"\x01")
    except (BlockingIOError, BrokenPipeError):
        pass


def drain(fd: int) -> None:
    """Consume pending rings, so the next poll sleeps until a new one.

    One read: more than 4096 pending rings only means the next poll returns at once,
    and a loop would end in a costly BlockingIOError on every hop.
    """
    try:
        os.read(fd, 4096)
    except BlockingIOError:
        pass


# -- the board: shared counters for flow control and drop accounting -------------------


class Board:
    """Shared int64 counters in one /dev/shm file: flow control, drops, calls, latency.

    Producers are node indices ``0..n-1`` and ``n`` (the session's input);
    consumers are node indices and ``n`` (the session). Every slot has exactly one
    writer, and aligned 8-byte stores are atomic on every platform iceoryx2
    supports, so no lock is needed. Per node: ``calls`` counts completed ``process``
    calls and ``lat`` keeps the receive/done times of the last ``RING`` of them (the
    worker writes the entry before the count), which is how the session reports one
    ``HopDone`` per call whatever the node emitted.
    """

    MAGIC = 0x726D6C6162  # "rmlab"
    RING = 256

    def __init__(self, path: str, n: int, *, create: bool):
        self.path, self.n = path, n
        p = n + 1
        R = self.RING
        words = 2 + 6 * p + 2 * p * p + p * R * 2
        self._size = 8 * words
        try:
            if create:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                os.ftruncate(fd, self._size)
            else:
                fd = os.open(path, os.O_RDWR)
            try:
                self._mm = mmap.mmap(fd, self._size)
            finally:
                os.close(fd)
        except OSError as exc:
            raise board_error("the session's board", exc) from exc
        a = np.frombuffer(self._mm, np.int64)
        self._a = a
        if create:
            a[0], a[1] = self.MAGIC, os.getpid()
        o = 2
        self.published = a[o : o + p]
        self.waiting = a[o + p : o + 2 * p]
        self.session_sub = a[o + 2 * p : o + 3 * p]
        o += 3 * p
        self.consumed = a[o : o + p * p].reshape(p, p)  # [consumer, producer]
        self.drops = a[o + p * p : o + 2 * p * p].reshape(p, p)
        o += 2 * p * p
        # control messages sent to each worker: checked before every frame, so a param
        # change made before a push applies to that frame (stdin alone could lag behind)
        self.control = a[o : o + p]
        o += p
        self.calls = a[o : o + p]
        self._calls_at = self.at_calls = o
        o += p
        # per worker process (at its first node's index): 1 + the index of the node it
        # is running, so a crash of co-located nodes names the one that was running
        self.at_active = o
        o += p
        self.lat = a[o : o + p * R * 2].reshape(p, R, 2)
        self._lat_at = o
        # Plain-integer access for the per-frame reads and writes: a numpy scalar load or
        # store runs several times more code, and after 20 ms of idle (live audio) every
        # line of code a hop runs is a cache miss. Hot paths index ``q`` at these offsets.
        self._q = memoryview(self._mm).cast("q")
        self.q = self._q
        self.at_published = 2
        self.at_waiting = 2 + p
        self.at_session_sub = 2 + 2 * p
        self.at_consumed = 2 + 3 * p  # + consumer * p + producer
        self.at_drops = 2 + 3 * p + p * p  # + consumer * p + producer
        self.at_control = 2 + 3 * p + 2 * p * p

    def record_call(self, node: int, count: int, recv_ns: int, done_ns: int) -> None:
        """Worker side: call number ``count`` of ``node`` took ``recv_ns..done_ns``."""
        q = self._q
        i = self._lat_at + (node * self.RING + (count - 1) % self.RING) * 2
        q[i] = recv_ns
        q[i + 1] = done_ns
        q[self._calls_at + node] = count  # last: the entry is complete once counted

    def close(self) -> None:
        self.q = None  # type: ignore[assignment]
        self.published = self.waiting = self.session_sub = self.consumed = None  # type: ignore[assignment]
        self.drops = self.control = self.calls = self.lat = None  # type: ignore[assignment]
        self._a = None  # type: ignore[assignment]
        self._q.release()
        with contextlib.suppress(BufferError):
            self._mm.close()

    def unlink(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise board_error("removing the session's board", exc) from exc

    @staticmethod
    def owner_pid(path: str) -> int | None:
        """The pid of the session that created a board file (None if unreadable)."""
        try:
            with open(path, "rb") as f:
                head = np.frombuffer(f.read(16), np.int64)
        except OSError:
            return None
        return int(head[1]) if head.size == 2 and head[0] == Board.MAGIC else None


# -- publishing and receiving --------------------------------------------------------------


def _fast(obj: Any, name: str) -> Any:
    """``obj.name`` without iceoryx2's Python wrapper, when the binding has the raw method.

    The public wrappers re-check the payload type on every call (``typing.get_origin``):
    twice per frame that is more code than the rest of a hop's send. The raw methods
    are what the wrappers call; if a future binding renames them, the public path is used.
    """
    return getattr(obj, f"__{name}", None) or getattr(obj, name)


_ASSUME_INIT = "__assume_init"  # see _fast


def _stamp(
    h: TraceHeader,
    src: TraceHeader | None,
    seq: int,
    origin_ns: int,
    hop: tuple[int, int, int] | None,
    kind: int,
    target: int,
    pub_seq: int,
) -> None:
    """Fill ``h``: the trace of ``src`` (or a new one) plus this hop."""
    if src is not None:
        ctypes.memmove(ctypes.addressof(h), ctypes.addressof(src), HEADER_SIZE)
    else:
        h.seq, h.origin_ns, h.nhops = seq, origin_ns, 0
    h.kind, h.target, h.pub_seq = kind, target, pub_seq
    if hop is not None and (i := h.nhops) < MAX_HOPS:
        h.hop_node[i], h.hop_recv[i], h.hop_done[i] = hop
        h.nhops = i + 1


class Outlet:
    """The publishing end of one service: encode into a loan, stamp the header, send, ring."""

    def __init__(
        self,
        svc: Any,
        producer: int,
        *,
        board: Board,
        consumers: Sequence[int],
        doorbells: Sequence[int],
        session_fd: int,
        credit_fd: int,
        block: bool,
        buffer: int,
        max_frame: int,
        label: str,
    ):
        import iceoryx2 as iox

        # PowerOfTwo grows the data segment for bigger frames; max_frame bounds it (checked
        # in send, since iceoryx2 has no upper limit of its own).
        try:
            self._pub = (
                svc.publisher_builder()
                .initial_max_slice_len(4096)
                .allocation_strategy(iox.AllocationStrategy.PowerOfTwo)
                .max_loaned_samples(2)
                .create()
            )
        except Exception as exc:
            raise iox_error(f"{label}: creating a publisher", exc) from exc
        self._loan = _fast(self._pub, "loan_slice_uninit")
        self.producer = producer
        self.board = board
        self.consumers = list(consumers)
        self.doorbells = tuple(doorbells)
        self.session_fd = session_fd
        self.credit_fd = credit_fd
        self.block = block
        self.buffer = buffer
        self.max_frame = max_frame
        self.label = label
        p = board.n + 1
        self._q = board.q
        self._i_published = board.at_published + producer
        self._i_session_sub = board.at_session_sub + producer
        self._i_waiting = board.at_waiting + producer
        self._i_credit = [board.at_consumed + c * p + producer for c in self.consumers]
        self._i_credit_session = board.at_consumed + board.n * p + producer
        self._h = TraceHeader()  # the next sample's header, written in one memmove
        self._h_at = ctypes.addressof(self._h)
        self.sent = self._q[self._i_published]  # a restarted worker continues the count

    def send(
        self,
        data: RuntimeData | bytes,
        *,
        src: TraceHeader | None = None,
        seq: int = 0,
        origin_ns: int = 0,
        hop: tuple[int, int, int] | None = None,
        kind: int = KIND_DATA,
        target: int = ALL_SOURCES,
        session_consumer: bool = False,
    ) -> None:
        """Publish one frame (or a raw error record) with its trace, then wake consumers."""
        raw = isinstance(data, bytes)
        prepared = None if raw else prepare(data)  # planned once: size, then the write
        n = len(data) if raw else prepared.size  # type: ignore[union-attr]
        sample = self._loan_for(n, session_consumer)
        if raw:
            ctypes.memmove(sample.payload_ptr, data, n)
        else:
            dst = (ctypes.c_uint8 * n).from_address(sample.payload_ptr)
            prepared.into(memoryview(dst).cast("B"))  # type: ignore[union-attr]
            del dst  # never touch a loan after send: that is a fatal Rust panic
        _stamp(self._h, src, seq, origin_ns, hop, kind, target, self.sent)
        self._publish(sample)

    def forward(self, raw: Any, n: int, src: TraceHeader, hop: tuple[int, int, int] | None) -> None:
        """Publish a received frame again, unchanged: its ``n`` encoded bytes ``raw``.

        A node that returns its input (a pass-through, a tap, a router) needs no
        encoding: one ``memmove`` of the wire bytes replaces planning and writing them.
        """
        sample = self._loan_for(n, False)
        ctypes.memmove(sample.payload_ptr, raw, n)
        _stamp(self._h, src, 0, 0, hop, KIND_DATA, ALL_SOURCES, self.sent)
        self._publish(sample)

    def loan(self, n: int) -> Any:
        """A loan of ``n`` bytes for a frame written in place (then ``send_loan``)."""
        return self._loan_for(n, False)

    def send_loan(self, sample: Any, src: TraceHeader, hop: tuple[int, int, int]) -> None:
        """Publish a loan whose payload is already a whole encoded frame."""
        _stamp(self._h, src, 0, 0, hop, KIND_DATA, ALL_SOURCES, self.sent)
        self._publish(sample)

    def _loan_for(self, n: int, session_consumer: bool) -> Any:
        if n > self.max_frame:
            raise ExecutorError(
                f"{self.label}: a {n:,}-byte frame exceeds the session's max_frame_bytes="
                f"{self.max_frame:,}; open the session with a larger max_frame_bytes"
            )
        if self.block:
            self._wait_for_credit(session_consumer)
        try:
            return self._loan(n or 1)
        except Exception as exc:
            raise iox_error(f"{self.label}: loaning {n:,} bytes", exc) from exc

    def read_outside(self) -> bool:
        """Whether another process reads this output: a successor there, or the session
        (a sink, or a tap). Co-located successors are called instead."""
        return bool(self.doorbells) or (self.session_fd >= 0 and bool(self._q[self._i_session_sub]))

    def header(
        self,
        *,
        src: TraceHeader | None = None,
        seq: int = 0,
        origin_ns: int = 0,
        hop: tuple[int, int, int] | None = None,
        kind: int = KIND_DATA,
        target: int = ALL_SOURCES,
    ) -> TraceHeader:
        """The trace a frame sent with these arguments would carry (a new header), for
        a successor called in this process."""
        h = TraceHeader()
        _stamp(h, src, seq, origin_ns, hop, kind, target, self.sent)
        return h

    def _publish(self, sample: Any) -> None:
        """Send ``sample`` with the header ``_stamp`` just wrote into ``self._h``."""
        ctypes.memmove(sample.user_header_ptr, self._h_at, HEADER_SIZE)
        try:
            (getattr(sample, _ASSUME_INIT, None) or sample.assume_init)().send()
        except Exception as exc:
            raise iox_error(f"{self.label}: sending a frame", exc) from exc
        q = self._q
        self.sent += 1
        q[self._i_published] = self.sent
        for fd in self.doorbells:
            ring(fd)
        if self.session_fd >= 0 and q[self._i_session_sub]:
            ring(self.session_fd)

    def _credit(self, session: bool) -> int:
        """How many more frames every subscriber has room for."""
        q = self._q
        least = min((q[i] for i in self._i_credit), default=None)
        if session:
            c = q[self._i_credit_session]
            least = c if least is None or c < least else least
        return 1 << 62 if least is None else least + self.buffer - self.sent

    def _wait_for_credit(self, session_consumer: bool) -> None:
        session = session_consumer or bool(self._q[self._i_session_sub])
        if self._credit(session) > 0:
            return  # the usual case: room downstream
        import select

        q = self._q
        poller = select.poll()
        for fd in (self.credit_fd, *self.also_poll):
            poller.register(fd, select.POLLIN)
        while True:
            q[self._i_waiting] = 1
            if self._credit(session) > 0:
                break
            # The timeout only guards against a ring lost to store/load reordering; a ring
            # normally wakes us at once. Draining also eats input rings of a worker's own
            # doorbell: harmless, because the worker receives until empty after each send.
            poller.poll(20)
            drain(self.credit_fd)
            if self.on_wait is not None:
                self.on_wait()
            if self._credit(session) > 0:
                break
        q[self._i_waiting] = 0

    also_poll: tuple[int, ...] = ()
    """More fds whose readiness should interrupt a credit wait (the session's doorbell)."""
    on_wait: Any = None
    """Called after each credit wait: the session drains its outputs there (so a producer
    that pushes before it pulls cannot deadlock), and raises to give up when closed."""

    def close(self) -> None:
        self._q = None  # type: ignore[assignment]
        with contextlib.suppress(Exception):
            self._pub.delete()


class Inlet:
    """The receiving end of one service: zero-copy views that keep their sample alive."""

    def __init__(
        self,
        svc: Any,
        producer: int,
        consumer: int,
        *,
        board: Board,
        borrowed: int,
        credit_fd: int,
        block: bool,
    ):
        try:
            self._sub = svc.subscriber_builder().create()
        except Exception as exc:
            raise iox_error(f"subscribing to the output of producer {producer}", exc) from exc
        self._recv = self._sub.receive
        self.producer, self.consumer = producer, consumer
        self.board = board
        self.credit_fd = credit_fd
        self.block = block
        self._borrow_limit = max(1, borrowed - 1)  # keep one slot for the next receive
        self._live: list[weakref.ref[Any]] = []
        self.expected: int | None = None
        self.header = TraceHeader()
        self._h_at = ctypes.addressof(self.header)
        p = board.n + 1
        self._q = board.q
        self._i_consumed = board.at_consumed + consumer * p + producer
        self._i_drops = board.at_drops + consumer * p + producer
        self._i_waiting = board.at_waiting + producer
        self.raw: Any = None
        """The encoded bytes of the last frame received (what ``Outlet.forward`` sends
        on); whoever is done with the frame sets it back to None."""
        self.nbytes = 0

    def receive(self) -> RuntimeData | bytes | None:
        """The next frame (error records as raw bytes), or None; ``self.header`` is its trace.

        Arrays are read-only views into shared memory unless too many samples are
        already held by live views, in which case the frame is copied (read-only too)
        and its sample released at once: never more borrows than iceoryx2 allows,
        never a stale view, never a writable input.
        """
        try:
            sample = self._recv()
        except Exception as exc:
            raise iox_error(f"receiving from producer {self.producer}", exc) from exc
        if sample is None:
            return None
        ctypes.memmove(self._h_at, sample.user_header_ptr, HEADER_SIZE)
        h = self.header
        self.nbytes = n = sample.header.number_of_elements
        self._account(h.pub_seq)
        buf = (ctypes.c_uint8 * n).from_address(sample.payload_ptr)
        if h.kind != KIND_DATA:
            return bytes(buf)
        live = self._live
        if len(live) >= self._borrow_limit:
            live[:] = [r for r in live if r() is not None]
        if len(live) >= self._borrow_limit:
            # too many samples held by live views: copy this frame (into immutable bytes, so
            # its arrays are read-only like every input) and release its sample at once
            buf = bytes(buf)  # type: ignore[assignment]
        else:
            buf._owner = sample  # type: ignore[attr-defined]  # the view keeps the sample alive
            live.append(weakref.ref(buf))
        self.raw = buf
        try:
            return decode(buf)
        except WireError as exc:
            raise ExecutorError(
                f"undecodable frame from producer {self.producer}: {exc}; this is a bug of the "
                "shm executor, please report it"
            ) from exc

    def _account(self, pub_seq: int) -> None:
        q = self._q
        if self.expected is not None and pub_seq > self.expected:
            q[self._i_drops] += pub_seq - self.expected
        self.expected = pub_seq + 1
        if self.block:
            q[self._i_consumed] = pub_seq + 1
            if q[self._i_waiting]:
                ring(self.credit_fd)

    def start_at(self, pub_seq: int) -> None:
        """Consider every earlier frame consumed (a tap or restart joining mid-stream)."""
        self.expected = pub_seq
        self._q[self._i_consumed] = pub_seq

    def close(self) -> None:
        self._live.clear()
        self.raw = None
        self._q = None  # type: ignore[assignment]
        with contextlib.suppress(Exception):
            self._sub.delete()
