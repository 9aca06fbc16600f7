"""Fixtures for the node tests: real speech made with espeak-ng, once per session."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.nodes.signals import speak

SPEECH_RATE = 16000


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """About 9 s at 16 kHz: silence, a sentence, a pause, another sentence, silence."""
    tmp = tmp_path_factory.mktemp("speech")
    first = speak("The quick brown fox jumps over the lazy dog.", tmp / "a.wav", SPEECH_RATE)
    second = speak("Voice activity detection needs real speech.", tmp / "b.wav", SPEECH_RATE)
    gap = np.zeros(SPEECH_RATE * 3 // 2, np.float32)
    return np.concatenate([gap[:SPEECH_RATE], first, gap, second, gap[:SPEECH_RATE]])
