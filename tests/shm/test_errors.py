"""Backend errors of the shm executor are mapped in one place, completely and clearly."""

from __future__ import annotations

import errno
import inspect

import pytest

from rmlab import ExecutorError, Manifest, NodeError, open_session
from rmlab.runtime.shm import _errors

from . import nodes  # noqa: F401

pytestmark = pytest.mark.shm


def iceoryx2_exception_classes() -> list[str]:
    import iceoryx2

    return sorted(
        name
        for name, obj in inspect.getmembers(iceoryx2, inspect.isclass)
        if issubclass(obj, BaseException)
    )


def test_every_iceoryx2_exception_is_mapped() -> None:
    classes = iceoryx2_exception_classes()
    assert len(classes) > 20  # the binding exposes its error classes at the top level
    unmapped = [c for c in classes if c not in _errors.IOX_HINTS]
    assert not unmapped, f"map these in rmlab/runtime/shm/_errors.py: {unmapped}"
    stale = sorted(set(_errors.IOX_HINTS) - set(classes))
    assert not stale, f"no longer raised by iceoryx2, remove: {stale}"


def test_a_mapped_error_says_what_failed_and_what_to_do() -> None:
    import iceoryx2

    err = _errors.iox_error("push(): loaning 4,096 bytes", iceoryx2.LoanError("ExceedsMaxLoans"))
    assert isinstance(err, ExecutorError)
    text = str(err)
    assert "push(): loaning 4,096 bytes" in text and "LoanError" in text
    assert "ExceedsMaxLoans" in text and "max_frame_bytes" in text


@pytest.mark.parametrize(
    ("code", "hint"),
    [(errno.ENOSPC, "--shm-size"), (errno.EACCES, "permissions"), (errno.EEXIST, "session_id")],
)
def test_board_errors_say_what_to_do(code: int, hint: str) -> None:
    err = _errors.board_error("the session's board", OSError(code, "boom", "/dev/shm/x"))
    assert isinstance(err, ExecutorError) and hint in str(err) and "/dev/shm/x" in str(err)


def test_a_session_id_in_use_is_a_clear_error() -> None:
    m = Manifest().add("p", "PassThrough")
    with (
        open_session(m, "shm", session_id="twice"),
        pytest.raises(ExecutorError, match="session_id"),
    ):
        open_session(m, "shm", session_id="twice")


def test_a_worker_that_fails_to_start_says_where() -> None:
    m = Manifest().add("ok", "PassThrough").add("bad", "SBadInit")
    with pytest.raises(NodeError, match=r"OSError in node creation: no licence server") as err:
        open_session(m, "shm")
    assert err.value.node_id == "bad" and "no licence server" in err.value.traceback
