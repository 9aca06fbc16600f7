"""BrowserSpeaker's buffer options without a browser: what is accepted, what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from rmlab.audio.browser import BrowserSpeaker
from rmlab.errors import DeviceError, RmlabError

pytestmark = pytest.mark.unit


def test_the_buffer_options_reach_the_page_as_given() -> None:
    speaker = BrowserSpeaker(min_ms=10, prefill_ms=40, max_ms=80)
    assert (speaker.min_ms, speaker.prefill_ms, speaker.max_ms) == (10, 40, 80)
    default = BrowserSpeaker()
    assert default.min_ms <= default.prefill_ms <= default.max_ms / 2
    # before the page reports, the target is the prefill and nothing was measured
    stats = default.stats()
    assert (stats["target_ms"], stats["jitter_ms"], stats["underruns"]) == (100.0, 0, 0)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"prefill_ms": 600}, "prefill_ms <= max_ms / 2"),  # above the target's ceiling
        ({"min_ms": 200}, "min_ms <= prefill_ms"),  # a floor above the start
        ({"min_ms": 0}, "positive and finite"),
        ({"max_ms": float("inf")}, "positive and finite"),
        ({"prefill_ms": float("nan")}, "positive and finite"),
        ({"prefill_ms": "60"}, "numbers of ms"),
        ({"max_ms": True}, "numbers of ms"),
    ],
)
def test_bad_buffer_options_are_refused_saying_why(options: dict[str, Any], says: str) -> None:
    with pytest.raises(DeviceError, match=says) as info:
        BrowserSpeaker(**options)
    assert isinstance(info.value, RmlabError)
    assert "BrowserSpeaker" in str(info.value)
    for name, value in options.items():
        assert f"{name}={value!r}" in str(info.value)  # it says what it got
