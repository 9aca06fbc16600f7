"""The rmlab error tree: every error rmlab raises on purpose is one of these.

Shaped by what a user wants to catch::

    RmlabError
      ManifestError      the manifest is invalid (.problems: list of (json_path, message))
      WireError          a frame could not be encoded or decoded (names the field)
      NodeError          an exception inside a node (.node_id, .traceback)
        NodeCrashed      the process of a node died (.exit_code, .signal, .stderr_tail, .host)
      SessionError       misuse of a session or its lifecycle
        Timeout          pull() waited longer than asked
        SessionClosed    the session is closed (or ended and drained)
      ExecutorError      iceoryx2, Ray or worker-process problems, mapped from backend errors
      DeviceError        audio devices and PortAudio

Messages say what happened, where, and what to do about it. Lower-layer exceptions
(iceoryx2, sounddevice, json) never leak: they are re-raised as the most specific
public error with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "DeviceError",
    "ExecutorError",
    "ManifestError",
    "NodeCrashed",
    "NodeError",
    "RmlabError",
    "SessionClosed",
    "SessionError",
    "Timeout",
    "WireError",
]


class RmlabError(Exception):
    """Base class of every error rmlab raises on purpose."""


class ManifestError(RmlabError):
    """A manifest failed to load or validate.

    ``problems`` lists every problem found as ``(json_path, message)`` pairs, e.g.
    ``("nodes[2].params.gain_db", "must be <= 24.0, got 30")``, so a user (or the
    builder widget) can point at the exact field.
    """

    def __init__(self, problems: list[tuple[str, str]] | str, *, hint: str | None = None):
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems: list[tuple[str, str]] = list(problems)
        lines = [f"{path}: {msg}" if path else msg for path, msg in self.problems]
        head = "invalid manifest" if len(lines) != 1 else "invalid manifest: " + lines[0]
        text = (
            head if len(lines) == 1 else head + f" ({len(lines)} problems)\n  " + "\n  ".join(lines)
        )
        if hint:
            text += f"\n{hint}"
        super().__init__(text)


class WireError(RmlabError):
    """A frame could not be encoded or decoded; the message names the field."""


class NodeError(RmlabError):
    """An exception was raised inside a node's ``setup``/``process``/``teardown``.

    ``node_id`` is the manifest id of the node and ``traceback`` the formatted
    traceback from wherever the node ran (possibly another process).
    """

    def __init__(self, node_id: str, message: str, traceback: str = ""):
        self.node_id = node_id
        self.message = message
        """What happened, without the node's id and the traceback."""
        self.traceback = traceback
        text = f"node {node_id!r} failed: {message}"
        if traceback:
            text += "\n\n" + traceback.rstrip()
        super().__init__(text)


class NodeCrashed(NodeError):
    """The process running a node died: a worker process (exit code or signal) or, for a
    node placed on Ray, its actor (``host`` names the cluster node it ran on)."""

    def __init__(
        self,
        node_id: str,
        *,
        exit_code: int | None = None,
        signal: int | None = None,
        stderr_tail: str = "",
        host: str | None = None,
        reason: str | None = None,
    ):
        self.exit_code = exit_code
        self.signal = signal
        self.stderr_tail = stderr_tail
        self.host = host
        """The cluster node the node ran on (Ray placement); None for a local worker."""
        if reason is None:
            how = f"killed by signal {signal}" if signal is not None else f"exit code {exit_code}"
            reason = f"worker process died ({how})"
        super().__init__(node_id, reason, stderr_tail)


class SessionError(RmlabError):
    """A session was used in a way its lifecycle does not allow."""


class Timeout(SessionError):
    """``pull`` waited longer than its timeout for an output."""


class SessionClosed(SessionError):
    """The session is closed, or has ended and every output was drained."""


class ExecutorError(RmlabError):
    """An executor could not start or talk to its workers (iceoryx2, processes)."""


class DeviceError(RmlabError):
    """An audio device or PortAudio problem, with what to install or which devices exist."""
