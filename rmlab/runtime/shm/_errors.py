"""The one place where backend errors of the shm executor become ``ExecutorError``.

Every iceoryx2 call (node, service builders, create/open, loan, send, receive,
cleanup) and every file operation on the board goes through ``iox_error`` or
``board_error``, so a user never sees a bare ``iceoryx2.LoanError`` and every
message says what to do. ``tests/shm/test_errors.py`` reads the iceoryx2 binding's
exception classes and fails on any that is not in ``IOX_HINTS``.

Hot paths call these only when something already failed (``except Exception as
exc: raise iox_error(...) from exc``), so the mapping costs nothing per frame.
"""

from __future__ import annotations

import errno

from rmlab.errors import ExecutorError

__all__ = ["IOX_HINTS", "board_error", "iox_error"]

_RESTART = "close the session and open a new one"
_LIMITS = (
    "this is a limit of the shared-memory executor's channels: open the session with a "
    "larger max_frame_bytes or queue_size, or use executor='local'"
)
_STALE = (
    "a resource of an earlier session may be left over: run `rmlab doctor`, or remove "
    "/tmp/rmlab-iceoryx2 and /dev/shm/iox2_rmlab_* when no rmlab session is running"
)
_SPACE = (
    "shared memory may be full: free space in /dev/shm (Docker: --shm-size=1g), or use "
    "executor='local'"
)
_UNUSED = "rmlab does not use this iceoryx2 feature; please report it as a bug"

IOX_HINTS: dict[str, str] = {
    # what rmlab uses: nodes, publish-subscribe services, publishers, subscribers
    "ConfigCreationError": "iceoryx2 could not build its configuration; " + _RESTART,
    "NodeCreationFailure": "iceoryx2 could not create a node; " + _STALE,
    "NodeCleanupFailure": "removing resources of dead processes failed; " + _STALE,
    "NodeListFailure": "iceoryx2 could not list its nodes; " + _STALE,
    "NodeWaitFailure": "waiting on an iceoryx2 node failed; " + _RESTART,
    "SemanticStringError": "a service or node name was refused; session ids must be short",
    "InvalidAlignmentValue": "an invalid payload alignment was requested; " + _UNUSED,
    "PublishSubscribeCreateError": "creating a shared-memory channel failed; " + _STALE,
    "PublishSubscribeOpenError": "opening a shared-memory channel failed (its session may "
    "have closed); " + _RESTART,
    "PublishSubscribeOpenOrCreateError": "opening a shared-memory channel failed; " + _STALE,
    "PublisherCreateError": "creating a channel's publisher failed; " + _SPACE,
    "SubscriberCreateError": "subscribing to a channel failed (too many taps or "
    "subscribers?); " + _RESTART,
    "AllocationGrowError": "a channel could not grow for a bigger frame; " + _SPACE,
    "LoanError": "no shared-memory sample was free for a frame; " + _LIMITS,
    "SendError": "sending a frame failed (a consumer may have died); " + _RESTART,
    "ReceiveError": "receiving a frame failed (too many frames held at once?); keep fewer "
    "outputs alive, or copy the arrays you keep",
    "ConnectionFailure": "a channel's connection broke (a process died?); " + _RESTART,
    "ServiceDetailsError": "reading a channel's details failed; " + _STALE,
    "ServiceRemoveError": "removing a channel failed; " + _STALE,
    # iceoryx2 features rmlab does not use (wake-ups are pipe doorbells): mapped all the
    # same, so that one appearing after an upgrade still reads clearly
    "EventCreateError": _UNUSED,
    "EventOpenError": _UNUSED,
    "EventOpenOrCreateError": _UNUSED,
    "ListenerCreateError": _UNUSED,
    "ListenerWaitError": _UNUSED,
    "NotifierCreateError": _UNUSED,
    "NotifierNotifyError": _UNUSED,
    "WaitSetAttachmentError": _UNUSED,
    "WaitSetCreateError": _UNUSED,
    "WaitSetRunError": _UNUSED,
    "BlackboardCreateError": _UNUSED,
    "BlackboardOpenError": _UNUSED,
    "EntryHandleError": _UNUSED,
    "EntryHandleMutError": _UNUSED,
    "ReaderCreateError": _UNUSED,
    "WriterCreateError": _UNUSED,
    "ClientCreateError": _UNUSED,
    "ServerCreateError": _UNUSED,
    "RequestResponseCreateError": _UNUSED,
    "RequestResponseOpenError": _UNUSED,
    "RequestResponseOpenOrCreateError": _UNUSED,
    "RequestSendError": _UNUSED,
}
"""iceoryx2 exception class name -> what it means for a user and what to do."""


def iox_error(what: str, exc: BaseException) -> ExecutorError:
    """``exc`` (raised by an iceoryx2 call doing ``what``) as an ``ExecutorError``."""
    name = type(exc).__name__
    hint = IOX_HINTS.get(name)
    if hint is None:  # not an iceoryx2 error: a bug of ours, say so plainly
        hint = "unexpected error in the shared-memory executor; please report it"
    detail = str(exc) or name
    return ExecutorError(f"{what}: {name} ({detail}); {hint}")


def board_error(what: str, exc: OSError) -> ExecutorError:
    """A failed file operation on the session's board as an ``ExecutorError``."""
    if exc.errno in (errno.ENOSPC, errno.ENOMEM):
        hint = _SPACE
    elif exc.errno in (errno.EACCES, errno.EPERM):
        hint = "/dev/shm is not writable for this user: check its permissions"
    elif exc.errno == errno.EEXIST:
        hint = "a board of a session with this id exists: pass another session_id"
    elif exc.errno == errno.ENOENT:
        hint = "the session's board is gone (its session closed?); " + _RESTART
    else:
        hint = _RESTART
    return ExecutorError(f"{what}: {exc.strerror or exc} ({exc.filename or ''}); {hint}")
