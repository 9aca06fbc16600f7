"""A throwaway PulseAudio daemon with virtual devices, for tests and benchmarks.

No systemd, no D-Bus, no sound card: one ``pulseaudio`` process with its own
``XDG_RUNTIME_DIR`` (so it never meets a user's real daemon) and three devices:

- ``vspk``, a null sink: whatever is played there goes nowhere but its monitor;
- ``vmic``, a virtual source reading ``vspk.monitor``: a speaker-to-microphone loop;
- ``fifomic``, a pipe source: float32 samples written to ``fifo`` come out as a
  microphone. It has no clock of its own, so the writer (``FifoFeeder``) sets the pace.

One quirk shapes ``start()``: an idle null sink sleeps in 2 s blocks and a new stream's
latency request only takes effect when that sleep ends, so every stream opened on an
idle ``vspk`` stalls for up to 2 s. A silent source looped into ``vspk`` at 10 ms keeps
the sink awake at a low latency for good, and ``start()`` waits out the first 2 s block.

Clients reach it through ``PULSE_SERVER`` (``env``); sounddevice opens it as
``device="pulse"`` (ALSA's pulse plugin, from libasound2-plugins) and the plugin
picks the device from ``PULSE_SOURCE``/``PULSE_SINK`` when a stream opens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Self

import numpy as np

from rmlab.audio._base import MonotonicClock
from rmlab.errors import DeviceError

__all__ = ["FifoFeeder", "VirtualPulse"]

RATE = 48000
_NULL_SINK_BLOCK_S = 2.0  # module-null-sink's idle block (BLOCK_USEC in its source)


class VirtualPulse:
    """Start with ``start()`` (or ``with``); ``env`` holds what a client needs."""

    def __init__(self, rate: int = RATE):
        self.rate = rate
        self.runtime_dir = ""
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """True if the ``pulseaudio`` binary is installed."""
        return shutil.which("pulseaudio") is not None

    @property
    def fifo(self) -> str:
        """The pipe feeding the ``fifomic`` source."""
        return os.path.join(self.runtime_dir, "fifomic")

    @property
    def env(self) -> dict[str, str]:
        """Environment for clients: the server's socket, and no autospawn of another one."""
        return {
            "PULSE_SERVER": f"unix:{self.runtime_dir}/pulse/native",
            "PULSE_CLIENTCONFIG": os.path.join(self.runtime_dir, "client.conf"),
        }

    def start(self, timeout: float = 10.0) -> Self:
        """Start the daemon and wait for its socket; ``DeviceError`` if it does not come up."""
        if not self.available():
            raise DeviceError("pulseaudio is not installed: `apt-get install pulseaudio`")
        self.runtime_dir = tempfile.mkdtemp(prefix="rmlab-pulse-")
        os.chmod(self.runtime_dir, 0o700)
        with open(os.path.join(self.runtime_dir, "client.conf"), "w") as f:
            f.write("autospawn = no\n")  # a client must never start a daemon of its own
        r = self.rate
        modules = [
            "module-native-protocol-unix auth-anonymous=1",
            f"module-null-sink sink_name=vspk rate={r} channels=1",
            f"module-null-source source_name=silence rate={r} channels=1",
            "module-loopback source=silence sink=vspk latency_msec=10",  # keeps vspk awake
            "module-virtual-source source_name=vmic master=vspk.monitor",
            f"module-pipe-source source_name=fifomic file={self.fifo} format=float32le "
            f"rate={r} channels=1",
        ]
        cmd = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
               "--log-target=stderr"]  # fmt: skip
        for m in modules:
            cmd += ["-L", m]
        env = {**os.environ, "XDG_RUNTIME_DIR": self.runtime_dir}
        self.proc = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        socket = os.path.join(self.runtime_dir, "pulse", "native")
        started = time.monotonic()
        deadline = started + timeout
        while not (os.path.exists(socket) and os.path.exists(self.fifo)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self._stop_and_read()
                raise DeviceError(f"pulseaudio did not start within {timeout} s:\n{err}")
            time.sleep(0.01)
        time.sleep(max(0.0, started + _NULL_SINK_BLOCK_S + 0.1 - time.monotonic()))
        return self

    def stop(self) -> None:
        """Kill the daemon and remove its runtime directory. Idempotent."""
        self._stop_and_read()
        if self.runtime_dir:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def _stop_and_read(self) -> str:
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        proc.kill()  # SIGTERM takes ~2 s to exit; nothing here is worth keeping
        _, err = proc.communicate(timeout=10)
        return err.decode(errors="replace")[-2000:]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FifoFeeder:
    """Write ``signal`` (float32 mono) into the pipe source in real time, block by block.

    Block ``k`` is written at ``t0 + k * block / rate`` (no drift); ``written_at[k]``
    keeps the wall time (µs since the epoch) it went in. ``loop=True`` repeats the
    signal until ``stop()``.
    """

    def __init__(self, fifo: str, signal: np.ndarray, rate: int = RATE, block: int = 960,
                 loop: bool = False) -> None:  # fmt: skip
        self.fifo, self.rate, self.block, self.loop = fifo, rate, block, loop
        self.signal = np.asarray(signal, dtype="<f4")
        self.written_at: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rmlab-fifo-feeder", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the whole signal was written."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        clock, x, b = MonotonicClock(), self.signal, self.block
        fd = os.open(self.fifo, os.O_WRONLY)  # the daemon holds the read end open
        try:
            t0, k = clock.now(), 0
            while self.loop or k * b < len(x):
                if not clock.sleep_until(t0 + k * b / self.rate, self._stop):
                    return
                start = (k * b) % len(x)
                os.write(fd, x[start : start + b].tobytes())
                self.written_at.append(time.time_ns() // 1000)
                k += 1
        finally:
            os.close(fd)
