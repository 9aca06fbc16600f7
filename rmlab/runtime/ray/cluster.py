"""Finding the Ray cluster: ``open_session(..., ray=...)``, else ``RAY_ADDRESS``, else an error.

``ray=`` is one of:

- an address: ``"10.0.0.5:6379"`` (a cluster's head), ``"ray://10.0.0.5:10001"``
  (Ray Client) or ``"auto"`` (the cluster this machine belongs to);
- ``"local"``: start Ray on this machine (once per process; later sessions reuse it,
  ``ray.shutdown()`` stops it);
- the ``ray`` module itself, after your own ``ray.init(...)``.

Without ``ray=``: a Ray this process already initialised is used as it is, else
``RAY_ADDRESS``, else ``ExecutorError`` saying these three ways. Ray is imported
here, lazily: nothing else of rmlab needs it.
"""

from __future__ import annotations

import os
import socket
import threading
from types import ModuleType
from typing import Any

from rmlab.errors import ExecutorError
from rmlab.runtime.ray._errors import WHERE, missing_ray, ray_error, unreachable

__all__ = ["connect", "import_ray"]

_lock = threading.Lock()


def import_ray(why: str) -> ModuleType:
    """The ``ray`` module, or ``ExecutorError`` saying ``why`` it is needed and how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise missing_ray(why) from exc
    return ray


def connect(option: Any, why: str, timeout: float = 10.0) -> ModuleType:
    """Make sure this process is connected to the cluster ``option`` names; return ``ray``.

    ``why`` says what needs Ray (``"node 'asr' (nodes[1]) is placed on Ray"``), so
    every error message starts from what the user asked for. An address nobody answers
    on fails within ``timeout`` seconds (``ray.init`` alone would retry for minutes).
    """
    ray = import_ray(why)
    with _lock:
        if isinstance(option, ModuleType):
            if option is not ray:
                raise ExecutorError(f"open_session(ray=...) got the module {option.__name__!r}")
            if not ray.is_initialized():
                raise ExecutorError(
                    f"{why}: open_session(ray=ray) needs ray.init(...) first; or {WHERE}"
                )
            return ray
        if option is None:
            if ray.is_initialized():
                return ray
            address = os.environ.get("RAY_ADDRESS")
            if not address:
                raise ExecutorError(f"{why}, but no Ray cluster is configured: {WHERE}")
            option = address
        if not isinstance(option, str) or not option:
            raise ExecutorError(
                f"open_session(ray=...) takes an address, 'local' or the ray module; got {option!r}"
            )
        if ray.is_initialized():
            _check_same(ray, option)
            return ray
        if option != "local":
            _check_reachable(option, timeout)
        try:
            if option == "local":
                ray.init(configure_logging=False)
            else:
                ray.init(address=option, configure_logging=False)
        except Exception as exc:  # ConnectionError, ValueError, ray.exceptions.*
            if option == "local":
                raise ray_error("starting Ray on this machine", exc) from exc
            raise unreachable(option, exc) from exc
    return ray


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast when nothing listens at ``address`` ("host:port" or "ray://host:port")."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=min(timeout, 10.0)).close()
    except OSError as exc:
        raise unreachable(address, exc) from exc


def _check_same(ray: Any, option: str) -> None:
    """A second address while connected to a first: Ray connects a process to one cluster."""
    if option in ("local", "auto") or option.startswith("ray://"):
        return  # cannot be told apart from here: use the connection there is
    current = ray.get_runtime_context().gcs_address
    if option != current:
        raise ExecutorError(
            f"this process is connected to the Ray cluster at {current!r}, not {option!r}; "
            "Ray connects a process to one cluster: call ray.shutdown() first, or pass ray=ray"
        )
