"""The one place where Ray's exceptions become rmlab errors, each with what to do.

Every Ray call of the package (connecting, creating and killing actors, calls,
``ray.get``) that fails goes through ``ray_error``, so a user never sees a bare
``ray.exceptions.*``: an actor that died is ``NodeCrashed`` naming the node and the
cluster node it ran on, an exception raised in a remote node is ``NodeError`` with
the remote traceback, and the rest is ``ExecutorError`` saying what to do.
``tests/ray/test_errors.py`` reads ``ray.exceptions`` and fails on any exception
class that is not in ``RAY_HINTS``.
"""

from __future__ import annotations

from rmlab.errors import ExecutorError, NodeCrashed, NodeError, RmlabError

__all__ = ["CRASHES", "INSTALL", "RAY_HINTS", "missing_ray", "ray_error"]

INSTALL = "pip install 'rmlab[ray]'"
WHERE = (
    "pass open_session(..., ray='local') to start Ray on this machine, "
    "ray='<head-ip>:6379' (or 'ray://<head-ip>:10001') for a cluster, or set RAY_ADDRESS"
)
_RESTART = 'the node\'s restart policy applies ("restart": {"policy": "on-failure"})'
_SCHEDULE = (
    "no cluster node can run it: compare the node's capabilities and host with "
    "`ray status`, or add a node that offers them"
)
_LOST = (
    "a frame held in Ray's object store was lost (its cluster node died, or it was "
    "evicted); the frame is dropped and the session goes on"
)
_MEMORY = (
    "the cluster ran out of memory for frames: lower the node's "
    '"execution": {"max_in_flight": N}, use smaller frames, or give Ray more '
    "object store memory"
)
_CLUSTER = "the Ray cluster is not healthy: check `ray status`, then open a new session"
_UNUSED = "rmlab does not use this Ray feature; please report it as a bug"

CRASHES = frozenset(
    {"RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError",
     "LocalRayletDiedError", "NodeDiedError"}
)  # fmt: skip
"""Classes meaning "the process running the node is gone": they become ``NodeCrashed``."""
_NODE_ERRORS = frozenset(
    {"RayTaskError", "UserCodeException", "UnserializableException", "CrossLanguageError",
     "TaskCancelledError"}
)  # fmt: skip
"""Classes carrying an exception raised by the node's own code: ``NodeError``."""

RAY_HINTS: dict[str, str] = {
    # the actor (or its cluster node) is gone: NodeCrashed
    "RayActorError": "the node's Ray actor died or is unreachable; " + _RESTART,
    "ActorDiedError": "the node's Ray actor died; " + _RESTART,
    "ActorUnavailableError": "the node's Ray actor is unreachable (its cluster node may be "
    "restarting); " + _RESTART,
    "WorkerCrashedError": "the Ray worker process running the node died; " + _RESTART,
    "LocalRayletDiedError": "the Ray daemon of the node's cluster node died; " + _CLUSTER,
    "NodeDiedError": "the cluster node running the node died; " + _RESTART,
    # the node's own code raised: NodeError with the remote traceback
    "RayTaskError": "the node raised on its cluster node; the traceback is the remote one",
    "UserCodeException": "the node raised on its cluster node",
    "UnserializableException": "the node raised an exception that cannot be sent back; "
    "its traceback is all that came",
    "CrossLanguageError": "a call crossed languages; " + _UNUSED,
    "TaskCancelledError": "a call to the node was cancelled (the session is closing)",
    # where it may run
    "ActorUnschedulableError": "the node's actor cannot be placed; " + _SCHEDULE,
    "TaskUnschedulableError": "a call cannot be placed; " + _SCHEDULE,
    "ActorPlacementGroupRemoved": "the placement group of the node's actor was removed; "
    "open a new session",
    "TaskPlacementGroupRemoved": "a placement group was removed; open a new session",
    "RuntimeEnvSetupError": "Ray could not set up the node's runtime environment: check that "
    "rmlab and the node's dependencies are installed on every cluster node",
    # frames in the object store
    "ObjectLostError": _LOST,
    "ObjectFetchTimedOutError": _LOST,
    "ObjectFreedError": _LOST,
    "OwnerDiedError": _LOST,
    "ObjectReconstructionFailedError": _LOST,
    "ReferenceCountingAssertionError": _LOST,
    "PlasmaObjectNotAvailable": _LOST,
    "ObjectStoreFullError": _MEMORY,
    "OutOfMemoryError": _MEMORY,
    "OutOfDiskError": "a cluster node ran out of disk for spilled frames; " + _MEMORY,
    # the connection and the cluster
    "RayError": "Ray failed; " + _CLUSTER,
    "RaySystemError": "Ray failed internally; " + _CLUSTER,
    "RpcError": "a call to the Ray cluster failed (network?); " + _CLUSTER,
    "AuthenticationError": "the Ray cluster refused this client's token: set RAY_AUTH_TOKEN "
    "(or ~/.ray/auth_token) as the cluster's administrator says",
    "GetTimeoutError": "Ray did not answer in time; " + _CLUSTER,
    "PendingCallsLimitExceeded": "too many calls wait for the node's actor; lower max_in_flight",
    # Ray features rmlab does not use: mapped all the same, so one that appears after an
    # upgrade still reads clearly
    "ActorAlreadyExistsError": _UNUSED,
    "ActorHandleNotFoundError": _UNUSED,
    "AsyncioActorExit": _UNUSED,
    "ObjectRefStreamEndOfStreamError": _UNUSED,
    "StreamingGeneratorReplayInconsistentError": _UNUSED,
    "OufOfBandObjectRefSerializationException": _UNUSED,
    "RayChannelError": _UNUSED,
    "RayChannelTimeoutError": _UNUSED,
    "RayCgraphCapacityExceeded": _UNUSED,
    "RayDirectTransportError": _UNUSED,
}
"""``ray.exceptions`` class name -> what it means for a user and what to do."""


def ray_class(exc: BaseException) -> str | None:
    """The most specific ``ray.exceptions`` class of ``exc`` (a task error's class is
    made at run time as ``RayTaskError(ValueError)``: its base is the one named)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == "ray.exceptions" and cls.__name__ in RAY_HINTS:
            return cls.__name__
    return None


def ray_error(
    what: str, exc: BaseException, *, node_id: str | None = None, host: str | None = None
) -> RmlabError:
    """``exc``, raised by a Ray call doing ``what``, as the rmlab error a user can act on.

    With ``node_id``: an actor's death is ``NodeCrashed`` (``host`` is the cluster
    node it ran on), an exception of the node's code is ``NodeError`` with the remote
    traceback, a lost frame is ``NodeError``. Everything else is ``ExecutorError``.
    """
    name = ray_class(exc)
    if name is None:  # not a Ray error: a bug of ours, say so plainly
        return ExecutorError(
            f"{what}: {type(exc).__name__} ({exc}); unexpected error in the Ray executor, "
            "please report it"
        )
    hint = RAY_HINTS[name]
    first = _first_line(exc)
    if node_id is not None and name in CRASHES:
        where = f" on cluster node {host}" if host else ""
        return NodeCrashed(
            node_id,
            reason=f"its Ray actor died{where} ({first}); {hint}",
            stderr_tail=str(exc),
            host=host,
        )
    if node_id is not None and name in _NODE_ERRORS:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            first = f"{type(cause).__name__}: {cause}"
        return NodeError(node_id, f"{first} ({what})", str(exc))
    if node_id is not None and RAY_HINTS[name] == _LOST:
        return NodeError(node_id, f"{what}: {name}: {first}; {hint}")
    return ExecutorError(f"{what}: {name} ({first}); {hint}")


def missing_ray(why: str) -> ExecutorError:
    """Ray is not installed: say what needed it and how to install it."""
    return ExecutorError(f"{why}, which needs Ray, and Ray is not installed: {INSTALL}")


def unreachable(address: str, exc: BaseException) -> ExecutorError:
    """``ray.init(address=...)`` failed: say where it looked and how to point elsewhere."""
    return ExecutorError(
        f"cannot connect to the Ray cluster at {address!r} ({type(exc).__name__}: "
        f"{_first_line(exc)}); check that `ray status --address {address}` works from this "
        f"machine, or {WHERE}"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
