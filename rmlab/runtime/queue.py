"""A thread-safe FIFO that is unbounded, or bounded with drop-oldest or blocking.

The input queue of executors whose nodes run on threads of this process. Control
records (``force=True``) bypass the bound and are never evicted: losing a param
change or the end of input would change what the pipeline computes.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rmlab.errors import SessionClosed, Timeout

__all__ = ["FrameQueue"]


class FrameQueue:
    """FIFO of ``(frame, ...)`` tuples and control records, bounded by ``maxsize`` frames."""

    def __init__(
        self,
        maxsize: int | None,
        policy: str = "drop-oldest",
        on_evict: Callable[[Any], None] | None = None,
    ):
        self.maxsize = maxsize
        self.policy = policy
        self.on_evict = on_evict
        self._items: deque[Any] = deque()
        self._frames = 0
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any, *, force: bool = False) -> None:
        """Add ``item``; may drop the oldest frame or wait, as the policy says.

        Raises ``SessionClosed`` if the queue is (or gets) closed.
        """
        evicted = None
        with self._cond:
            if self._closed:
                raise SessionClosed("the session is closed")
            if not force and self.maxsize is not None:
                if self.policy == "block":
                    while self._frames >= self.maxsize and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        raise SessionClosed("the session was closed while push() was waiting")
                elif self._frames >= self.maxsize:
                    evicted = self._evict_one()
            self._items.append(item)
            if not force:
                self._frames += 1
            self._cond.notify_all()
        if evicted is not None and self.on_evict is not None:
            self.on_evict(evicted)

    def _evict_one(self) -> Any:
        for i, old in enumerate(self._items):
            if isinstance(old, tuple):  # frames, not control records
                del self._items[i]
                self._frames -= 1
                return old
        return None

    def get(self, timeout: float | None = None) -> Any:
        """Remove and return the oldest item; ``Timeout`` if none came in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items or self._closed:
                if self._closed:
                    raise SessionClosed("the session is closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Timeout(f"nothing arrived within {timeout} s")
                self._cond.wait(remaining)
            item = self._items.popleft()
            if isinstance(item, tuple):
                self._frames -= 1
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Wake every waiter; later puts and gets raise ``SessionClosed``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
