"""Nodes with exactly known behaviour for the Ray tests (importable on the cluster's
workers: Ray gives them the driver's sys.path)."""

from __future__ import annotations

import os
import time

from rmlab import Json, Node, Param, RuntimeData


class CTagR(Node):
    """Wrap the input's value as ``{"tag": tag, "v": value}``."""

    tag: str = Param("x")

    def process(self, frame: Json) -> Json:
        return Json({"tag": self.tag, "v": frame.value})


class CWhere(Node):
    """Emit ``{"v": value, "pid": ..., "node": ...}``: which process (and Ray node) ran it,
    after sleeping ``ms``; it keeps nothing between frames."""

    stateless = True
    ms: float = Param(0.0, min=0.0)

    def process(self, frame: Json) -> Json:
        if self.ms:
            time.sleep(self.ms / 1000)
        node = ""
        try:
            import ray

            if ray.is_initialized():
                node = ray.get_runtime_context().get_node_id()
        except ImportError:
            pass
        return Json({"v": frame.value, "pid": os.getpid(), "node": node})


class CCount(Node):
    """Emit 0, 1, 2, ...: state kept between frames (so a restart starts again at 0)."""

    def setup(self) -> None:
        self.n = 0

    def process(self, frame: RuntimeData) -> Json:
        self.n += 1
        return Json(self.n - 1)
