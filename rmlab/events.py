"""What a session reports, for watchers: ``session.watch(w)`` and the event types.

::

    from rmlab.events import Watcher

    class Slowest(Watcher):
        def __init__(self):
            self.worst = {}
        def on_hop(self, hop):                      # once per process call of a node
            ms = (hop.done_ns - hop.recv_ns) / 1e6
            self.worst[hop.node_id] = max(ms, self.worst.get(hop.node_id, 0.0))

    w = Slowest()
    session.watch(w)

A watcher overrides the ``on_*`` methods it needs, or ``on_event`` for all of them;
a plain function of one event works too. The events are ``Output`` (a sink's or
tapped node's output), ``HopDone`` (a node's ``process`` returned), ``NodeFailed``
(``NodeError`` or ``NodeCrashed``), ``NodeRestarted``, ``Dropped`` and ``Ended``. Every
executor reports the same events, so a watcher works on all of them.
"""

from rmlab.runtime.executor import (
    Dropped,
    Ended,
    Event,
    HopDone,
    NodeFailed,
    NodeRestarted,
    Output,
)
from rmlab.runtime.watchers import Watch, Watcher

__all__ = [
    "Dropped",
    "Ended",
    "Event",
    "HopDone",
    "NodeFailed",
    "NodeRestarted",
    "Output",
    "Watch",
    "Watcher",
]
