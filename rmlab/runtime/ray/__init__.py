"""Nodes on a Ray cluster: the ``"ray"`` executor and remote nodes in any session.

``open_session(m, executor="ray", ray=...)`` runs every node as a Ray actor; a node
whose manifest says ``"execution": {"placement": "remote"}`` runs on Ray under the
``"shm"`` and ``"local"`` executors too (see ``placement`` for the manifest keys,
``cluster`` for ``ray=``). Ray is an optional extra (``pip install 'rmlab[ray]'``)
and is imported only when a session needs it.

Modules: ``placement`` (manifest keys -> resource request), ``cluster`` (finding
the cluster), ``actor`` (``NodeHost``, the actor that runs a node), ``hosts``
(creating, reusing and killing actors), ``remote`` (``RemoteNode``: one node's
actors, calls in flight, restarts), ``executor`` (``RayExecutor``), ``bridge`` (a
remote node inside a shm session), ``_errors`` (Ray's exceptions as rmlab errors).
"""

from typing import Any

from rmlab.runtime.ray.hosts import keep_warm

__all__ = ["keep_warm", "remote_nodes"]


def remote_nodes(session: Any) -> dict[str, Any]:
    """The nodes of ``session`` that run on Ray, as ``RemoteNode``s by node id.

    ``remote_nodes(s)["asr"].hosts`` says where each replica runs (cluster node id, IP,
    host name, pid); ``.handles`` are the actors, ``.restarts`` the restarts so far.
    Empty for a session without nodes on Ray.
    """
    return dict(getattr(session._ex, "remote_nodes", {}))
