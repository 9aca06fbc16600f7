"""``rmlab devices``: the audio devices PortAudio sees, or why it sees none."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rmlab.errors import DeviceError

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Add the audio subcommands to ``sub`` (the ``rmlab`` command's subparsers)."""
    p = sub.add_parser("devices", help="list audio input and output devices")
    p.set_defaults(func=_devices)


def _devices(args: argparse.Namespace) -> int:
    from rmlab.audio import devices

    try:
        found = devices()
    except DeviceError as exc:
        print(f"rmlab devices: {exc}", file=sys.stderr)
        return 1
    rows = [("index", "name", "host API", "in", "out", "default rate", "default")]
    for d in found:
        default = ", ".join(k for k, v in (("input", d.default_input),
                                          ("output", d.default_output)) if v)  # fmt: skip
        rows.append((str(d.index), d.name, d.host_api, str(d.input_channels),
                     str(d.output_channels), f"{d.default_rate:g} Hz", default))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print("\nOpen one with Microphone(device=NAME_OR_INDEX) or Speaker(device=...).")
    return 0
