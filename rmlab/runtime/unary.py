"""One-shot execution: run a list of inputs through a pipeline and collect every output.

``execute`` returns ``Output`` records. ``execute_pipeline`` and
``execute_pipeline_with_input`` are coroutines with the RemoteMedia Python FFI's
names and value forms (Audio as ``{"type": "audio", "samples", "sample_rate",
"channels"}``, Numpy as an ndarray, Text as str, Json as its value, Binary as
bytes), except that they use every input and return every output, where upstream
uses only the first input and returns only the first output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from rmlab.data import Audio, Binary, Control, File, Json, Numpy, RuntimeData, Text, Video
from rmlab.runtime.session import Output, open_session

__all__ = ["execute", "execute_pipeline", "execute_pipeline_with_input"]


def execute(manifest: Any, inputs: Iterable[Any], executor: str = "local") -> list[Output]:
    """Push every input, end, and return every output in order (lossless).

    Raises the first node's error as ``NodeError`` after the pipeline has drained.
    """
    with open_session(manifest, executor, backpressure="block") as s:
        for x in inputs:
            s.push(x)
        s.end()
        results: list[Output] = []
        first_error: Exception | None = None
        while True:
            try:
                results.append(next(s))
            except StopIteration:
                break
            except Exception as exc:  # keep draining so the session ends cleanly
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return results


async def execute_pipeline(manifest_json: Any) -> list[Any]:
    """Run a pipeline with no input (its nodes' flush output only); RemoteMedia-compatible."""
    return await execute_pipeline_with_input(manifest_json, [])


async def execute_pipeline_with_input(manifest_json: Any, inputs: Iterable[Any]) -> list[Any]:
    """Run ``inputs`` through the pipeline and return every output as a plain value."""
    outs = await asyncio.to_thread(execute, manifest_json, list(inputs))
    return [to_value(o.data) for o in outs]


def to_value(data: RuntimeData) -> Any:
    """A frame as the RemoteMedia Python client's value form."""
    if isinstance(data, Audio):
        return {
            "type": "audio",
            "samples": data.samples,
            "sample_rate": data.sample_rate,
            "channels": data.channels,
        }
    if isinstance(data, Numpy):
        return data.array
    if isinstance(data, Text):
        return data.text
    if isinstance(data, Json):
        return data.value
    if isinstance(data, Binary):
        return bytes(data.data)
    if isinstance(data, Control):
        return data.message
    if isinstance(data, File):
        keys = ("path", "filename", "mime_type", "size", "offset", "length", "stream_id")
        return {"type": "file", **{k: getattr(data, k) for k in keys}}
    if isinstance(data, Video):
        keys = ("pixels", "width", "height", "format", "codec", "frame_number", "is_keyframe")
        return {"type": "video", **{k: getattr(data, k) for k in keys}}
    return None
