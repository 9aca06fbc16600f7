"""The shm hop's fast paths, with real workers: outputs computed into shared memory,
unchanged frames forwarded as their wire bytes, and the shared memory a session holds."""

from __future__ import annotations

import numpy as np
import pytest

from rmlab import Audio, open_session

from . import nodes  # noqa: F401  # registers the S* test nodes
from .test_colocated import chain

pytestmark = [pytest.mark.shm, pytest.mark.usefixtures("no_leaks")]


def test_out_is_the_output_loan_in_shared_memory() -> None:
    m = chain("PassThrough", "SOutBase")
    with open_session(m, "shm") as s:
        s.push(np.zeros(960, np.float32))
        assert s.pull(timeout=10).data.value.startswith("c_ubyte_Array")
    with open_session(m, "local") as s:
        s.push(np.zeros(960, np.float32))
        assert s.pull(timeout=10).data.value == "NoneType"  # elsewhere: an array of its own


def test_gain_computes_into_its_output_and_forwarding_keeps_every_field() -> None:
    x = Audio(np.linspace(-1, 1, 1920, dtype=np.float32), 48000, channels=2,
              metadata={"take": 3})  # fmt: skip
    m = chain("PassThrough", "Gain", "PassThrough")
    m.node("n1").params["gain_db"] = -20.0
    with open_session(m, "shm", backpressure="block") as s:
        for _ in range(10):
            s.push(x)
        outs = [s.pull(timeout=10).data for _ in range(10)]
    for o in outs:
        assert (o.sample_rate, o.channels, o.metadata) == (48000, 2, {"take": 3})
        np.testing.assert_allclose(o.samples, x.samples * np.float32(0.1), rtol=1e-6)
        assert o.timestamp_us > 0  # the header travelled with the frame


def test_stats_report_the_shared_memory_in_use() -> None:
    m = chain("PassThrough", "PassThrough")
    with open_session(m, "shm", backpressure="block") as s:
        small = s.stats().shm_bytes
        s.push(np.zeros(4 << 20, np.uint8))  # 4 MiB through both channels
        s.pull(timeout=10)
        big = s.stats().shm_bytes
    assert 0 < small < big
    assert big - small >= 8 << 20  # at least the two channels' copies of the frame
    with open_session(m, "local") as s:
        assert s.stats().shm_bytes == 0
