"""Small nodes with exactly known behaviour, used by the conformance suite."""

from __future__ import annotations

import time

import numpy as np

from rmlab import Json, Node, Numpy, Param, RuntimeData


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


class CWritable(Node):
    """Hold every input (as a slow consumer would); emit whether each array was writable."""

    def setup(self) -> None:
        self.held: list[RuntimeData] = []

    def process(self, frame: RuntimeData) -> None:
        self.held.append(frame)  # holding inputs is what exhausts zero-copy borrows on shm

    def flush(self) -> list[Json]:
        return [Json(bool(f.array.flags.writeable)) for f in self.held]  # type: ignore[attr-defined]


class CTryWrite(Node):
    """Try to write into the input array; emit what happened."""

    def process(self, frame: RuntimeData) -> Json:
        try:
            frame.array[...] = 0  # type: ignore[attr-defined]
        except ValueError as exc:
            return Json(f"refused: {exc}")
        return Json("written")


class CInPlace(Node):
    """Say so, then modify the input in place (and return it)."""

    inplace = True

    def process(self, frame: RuntimeData) -> RuntimeData:
        frame.array[...] += 1  # type: ignore[attr-defined]
        return frame


class CSource(Node):
    """Emit the id of the predecessor each frame came from (None: pushed by the session)."""

    def process(self, frame: RuntimeData, source: str | None = None) -> Json:
        return Json(source)


class CCounter(Node):
    """Emit ``start``, ``start + 1``, ...: state rebuilt by ``reset`` from the params."""

    start: int = Param(0)

    def reset(self) -> None:
        self.next = self.start

    def setup(self) -> None:
        self.reset()

    def process(self, frame: RuntimeData) -> Json:
        self.next += 1
        return Json(self.next - 1)


class COut(Node):
    """Compute ``2 * input`` straight into ``out``; ``mode`` "report" emits what ``out``
    was instead, "new" returns a new frame (not ``out``)."""

    mode: str = Param("out", choices=("out", "report", "new"))

    def process(self, frame: RuntimeData, out: RuntimeData | None = None) -> RuntimeData:
        if out is None:
            return Json(None)
        a = out.array  # type: ignore[attr-defined]
        if self.mode == "report":
            same = a.shape == frame.array.shape and a.dtype == frame.array.dtype  # type: ignore[attr-defined]
            return Json({"writeable": bool(a.flags.writeable), "like_input": bool(same),
                         "type": type(out).__name__})  # fmt: skip
        np.multiply(frame.array, 2, out=a)  # type: ignore[attr-defined]
        return out if self.mode == "out" else Numpy(a.copy())
