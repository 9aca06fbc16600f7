"""Small nodes with exactly known behaviour, used by the conformance suite."""

from __future__ import annotations

import time

from rmlab import Json, Node, Param, RuntimeData


class CRepeat(Node):
    """Emit each input ``n`` times (0 emits nothing)."""

    n: int = Param(1, min=0)

    def process(self, frame: RuntimeData) -> list[RuntimeData]:
        return [frame] * self.n


class CTag(Node):
    """Wrap a Json input as ``{"via": [...ids], "v": value}`` adding this node's tag."""

    tag: str = Param("x")

    def process(self, frame: Json) -> Json:
        v = frame.value
        value = v if isinstance(v, dict) and "via" in v else {"via": [], "v": v}
        return Json({"via": [*value["via"], self.tag], "v": value["v"]})


class CHold(Node):
    """Buffer every input; emit them all (in order) when the input ends."""

    def setup(self) -> None:
        self.held: list[RuntimeData] = []

    def process(self, frame: RuntimeData) -> None:
        self.held.append(frame)

    def flush(self) -> list[RuntimeData]:
        held, self.held = self.held, []
        return held


class CFail(Node):
    """Raise ValueError for Json inputs equal to ``bad``; pass everything else."""

    bad: int = Param(13)

    def process(self, frame: RuntimeData) -> RuntimeData:
        if isinstance(frame, Json) and frame.value == self.bad:
            raise ValueError(f"refusing {self.bad}")
        return frame


class CSlow(Node):
    """Sleep ``ms`` per frame, then pass it on."""

    ms: float = Param(5.0, min=0.0)

    def process(self, frame: RuntimeData) -> RuntimeData:
        time.sleep(self.ms / 1000)
        return frame


class CBadSetup(Node):
    """Fail in setup(), as a node with a missing resource would."""

    def setup(self) -> None:
        raise RuntimeError("no such device: imaginary-mic")

    def process(self, frame: RuntimeData) -> RuntimeData:
        return frame
