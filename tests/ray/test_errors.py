"""Ray's exceptions are mapped in one place, completely, to errors that say what to do.

These read ``ray.exceptions`` and build its exceptions as Ray does; they start no
cluster, so they run outside the network namespace too.
"""

from __future__ import annotations

import inspect

import pytest

from rmlab import ExecutorError, NodeCrashed, NodeError
from rmlab.runtime.ray import _errors

pytestmark = pytest.mark.ray

exceptions = pytest.importorskip("ray.exceptions", reason="Ray is not installed")


def ray_exception_classes() -> list[str]:
    return sorted(
        name
        for name, obj in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == "ray.exceptions"
    )


def test_every_ray_exception_is_mapped() -> None:
    classes = ray_exception_classes()
    assert len(classes) > 30  # Ray keeps every public error class in ray.exceptions
    unmapped = [c for c in classes if c not in _errors.RAY_HINTS]
    assert not unmapped, f"map these in rmlab/runtime/ray/_errors.py: {unmapped}"
    stale = sorted(set(_errors.RAY_HINTS) - set(classes))
    assert not stale, f"no longer in ray.exceptions, remove: {stale}"
    assert set(classes) >= _errors.CRASHES


def test_a_dead_actor_is_node_crashed_naming_the_cluster_node() -> None:
    exc = exceptions.ActorDiedError()
    err = _errors.ray_error("calling node 'asr'", exc, node_id="asr", host="10.0.0.7 (gpu-1)")
    assert isinstance(err, NodeCrashed)
    assert err.node_id == "asr" and err.host == "10.0.0.7 (gpu-1)"
    text = str(err)
    assert "node 'asr' failed: its Ray actor died on cluster node 10.0.0.7 (gpu-1)" in text
    assert "on-failure" in text  # what to do: the restart policy


def test_an_exception_of_the_node_is_a_node_error_with_the_remote_traceback() -> None:
    tb = 'Traceback (most recent call last):\n  File "node.py", line 3\nValueError: boom'
    exc = exceptions.RayTaskError("process", tb, ValueError("boom")).as_instanceof_cause()
    assert type(exc).__name__ == "RayTaskError(ValueError)"  # made at run time by Ray
    err = _errors.ray_error("process()", exc, node_id="f")
    assert type(err) is NodeError and err.node_id == "f"
    assert "ValueError: boom" in str(err) and 'File "node.py"' in err.traceback


def test_a_lost_frame_is_a_node_error_and_the_rest_are_executor_errors() -> None:
    lost = _errors.ray_error("fetching", exceptions.ObjectLostError("ab" * 14, "", ""), node_id="x")
    assert type(lost) is NodeError and "dropped" in str(lost)
    full = _errors.ray_error("sending", exceptions.ObjectStoreFullError("full"), node_id="x")
    assert isinstance(full, ExecutorError) and "max_in_flight" in str(full)
    late = _errors.ray_error("waiting", exceptions.GetTimeoutError("slow"))
    assert isinstance(late, ExecutorError) and "ray status" in str(late)


def test_an_error_that_is_not_ray_s_says_it_is_a_bug() -> None:
    err = _errors.ray_error("scheduling", KeyError("x"))
    assert isinstance(err, ExecutorError) and "please report it" in str(err)


def test_unreachable_and_missing_say_what_to_do() -> None:
    err = _errors.unreachable("10.9.9.9:6379", ConnectionError("timed out"))
    text = str(err)
    assert "10.9.9.9:6379" in text and "ray='local'" in text and "RAY_ADDRESS" in text
    assert "pip install 'rmlab[ray]'" in str(_errors.missing_ray("executor='ray'"))
