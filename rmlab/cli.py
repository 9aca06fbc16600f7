"""The ``rmlab`` command.

``rmlab demo``               a tone through a 3-node shared-memory pipeline, live latency table
``rmlab run MANIFEST``       run a pipeline over a WAV file (or no input), write the result
``rmlab validate MANIFEST``  check a manifest; every problem with its JSON path
``rmlab nodes [NAME]``       the registered node types, their params and docs
``rmlab schema``             print the manifest JSON Schema
``rmlab devices``            list audio input and output devices
``rmlab doctor``             check PortAudio, devices, /dev/shm, iceoryx2, Jupyter; say the fix
``rmlab lab [DIR]``          JupyterLab on the tutorial notebooks
``rmlab bench NAME``         run a benchmark by hand and print its table
                             (``wire``, ``nodes``, ``executor``, ``audio``, ``plots``)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rmlab.errors import RmlabError

_BENCHES = ("wire", "nodes", "executor", "audio", "plots", "speaker", "ray")


def _validate(args: argparse.Namespace) -> int:
    from rmlab.manifest import Manifest

    m = Manifest.load(args.manifest)
    name = m.metadata.get("name") or args.manifest
    print(f"ok: {name!s} is valid ({len(m.nodes)} nodes, {len(m.connections)} connections)")
    for c in m.connections:
        print(f"  {c.source} -> {c.target}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from rmlab._demo import run_demo

    return run_demo(args.seconds, args.executor)


def _run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from rmlab.audio import read_wav, write_wav
    from rmlab.data import Audio, RuntimeData
    from rmlab.runtime import open_session
    from rmlab.runtime.unary import to_value

    frames: list[RuntimeData] = []
    if args.input:
        samples, rate = read_wav(args.input)
        for start in range(0, len(samples), args.block):
            frames.append(Audio(samples[start : start + args.block], rate, samples.shape[1]))
    audio: list[np.ndarray] = []
    out_rate = out_channels = None
    events = open(args.events, "w", encoding="utf-8") if args.events else sys.stdout  # noqa: SIM115
    with open_session(args.manifest, args.executor, backpressure="block") as s:
        for i, f in enumerate(frames):
            s.push(f)
            if not args.quiet and (i % 50 == 0 or i == len(frames) - 1):
                print(f"\r{i + 1}/{len(frames)} frames pushed", end="", file=sys.stderr)
        s.end()
        for out in s:
            if isinstance(out.data, Audio):
                if out_rate not in (None, out.data.sample_rate):
                    raise RmlabError(
                        f"sinks return audio at {out_rate} and {out.data.sample_rate} Hz; "
                        "add a Resample node so one WAV can hold both"
                    )
                out_rate, out_channels = out.data.sample_rate, out.data.channels
                audio.append(out.data.as_2d())
            else:
                value = to_value(out.data)
                if isinstance(value, np.ndarray):
                    value = {"shape": list(value.shape), "dtype": str(value.dtype)}
                print(json.dumps({"node": out.node_id, "value": value}, default=str), file=events)
        stats = s.stats()
    if events is not sys.stdout:
        events.close()
    if not args.quiet:
        print(file=sys.stderr)
        print(stats, file=sys.stderr)
    if not args.output and audio and not args.quiet:
        secs = sum(len(a) for a in audio) / out_rate
        print(f"the pipeline returned {secs:.2f} s of audio, not saved: pass -o out.wav "
              "to keep it", file=sys.stderr)  # fmt: skip
    if args.output:
        if not audio:
            raise RmlabError(f"--output {args.output}: the pipeline returned no audio")
        write_wav(args.output, np.concatenate(audio), out_rate, args.subtype)
        if not args.quiet:
            secs = sum(len(a) for a in audio) / out_rate
            print(f"wrote {args.output}: {secs:.2f} s, {out_channels} ch, {out_rate} Hz",
                  file=sys.stderr)  # fmt: skip
    return 0


def _nodes(args: argparse.Namespace) -> int:
    from rmlab.nodes import available, lookup

    classes = {args.name: lookup(args.name)} if args.name else available()
    for name, cls in classes.items():
        doc = cls.doc()
        summary = doc.splitlines()[0] if doc else ""
        print(f"{name:<22} {summary}")
        if args.name:
            rest = "\n".join(doc.splitlines()[1:]).strip()
            if rest:
                print("\n" + rest + "\n")
            accepts = ", ".join(sorted(t.__name__ for t in cls.accepts))
            produces = (
                ", ".join(sorted(t.__name__ for t in cls.produces))
                if cls.produces is not None
                else "same as input"
            )
            print(f"  accepts:  {accepts}\n  produces: {produces}")
        for pname, p in cls.params.items():
            bits = [p.type.__name__ if p.type else "any"]
            bits.append("required" if p.required else f"default {p.default!r}")
            if p.min is not None or p.max is not None:
                bits.append(f"range [{p.min}, {p.max}]")
            if p.choices is not None:
                bits.append("one of " + "|".join(map(str, p.choices)))
            if p.aliases:
                bits.append("alias " + ", ".join(p.aliases))
            print(f"  {pname:<20} {'; '.join(bits)}" + (f"  - {p.doc}" if p.doc else ""))
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from rmlab.manifest import Manifest

    print(json.dumps(Manifest.schema(), indent=2))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from rmlab._doctor import run_doctor

    return run_doctor()


def _lab(args: argparse.Namespace) -> int:
    import importlib.util
    import os
    from pathlib import Path

    if importlib.util.find_spec("jupyterlab") is None:
        raise RmlabError("JupyterLab is not installed: pip install jupyterlab")
    folder = Path(args.dir) if args.dir else Path(__file__).resolve().parents[1] / "notebooks"
    if not args.dir and not folder.is_dir():
        folder = Path.cwd()  # an installed package has no notebooks/: serve where we are
    if not folder.is_dir():
        raise RmlabError(f"no folder {folder}; pass a notebook folder: rmlab lab DIR")
    rest = list(args.rest)
    if os.geteuid() == 0 and "--allow-root" not in rest:
        rest.append("--allow-root")  # JupyterLab refuses root without it (containers, Binder)
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={folder}", *rest]
    print(f"starting JupyterLab on {folder}", file=sys.stderr)
    os.execv(sys.executable, argv)  # JupyterLab owns the terminal (and Ctrl-C) from here
    return 0  # not reached


def _bench(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(f"rmlab.bench.{args.name}")
    return int(module.main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rmlab", description="rmlab: a live audio lab for Jupyter notebooks."
    )
    from rmlab import __version__

    parser.add_argument("--version", action="version", version=f"rmlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a manifest and list every problem")
    p.add_argument("manifest", help="path to a manifest JSON file")
    p.set_defaults(func=_validate)

    p = sub.add_parser("demo", help="a live pipeline on a synthetic tone, with its latency")
    p.add_argument("--seconds", type=float, default=10.0, help="how long (0: until Ctrl-C)")
    p.add_argument("--executor", default="shm", choices=("shm", "local"), help="default shm")
    p.set_defaults(func=_demo)

    p = sub.add_parser("run", help="run a pipeline over a WAV file")
    p.add_argument("manifest", help="path to a manifest JSON file")
    p.add_argument("-i", "--input", help="WAV file to stream in (omit for no input)")
    p.add_argument("-o", "--output", help="WAV file for the returned audio")
    p.add_argument("--events", help="file for non-audio outputs as JSON lines (default stdout)")
    p.add_argument("--block", type=int, default=960, help="samples per frame (default 960)")
    p.add_argument(
        "--executor", default="shm", choices=("shm", "local"), help="executor (default shm)"
    )
    p.add_argument(
        "--subtype", choices=("float", "int16"), default="float", help="WAV sample format"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or stats on stderr")
    p.set_defaults(func=_run)

    p = sub.add_parser("nodes", help="list node types with their params")
    p.add_argument("name", nargs="?", help="show one node type in full")
    p.set_defaults(func=_nodes)

    p = sub.add_parser("schema", help="print the manifest JSON Schema")
    p.set_defaults(func=_schema)

    from rmlab.audio._cli import add_parsers as add_audio_parsers

    add_audio_parsers(sub)  # `rmlab devices`

    p = sub.add_parser("doctor", help="check this machine for rmlab and say how to fix it")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("lab", help="open JupyterLab on the tutorial notebooks")
    p.add_argument("dir", nargs="?", help="notebook folder (default: the repo's notebooks/)")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options passed to JupyterLab")
    p.set_defaults(func=_lab)

    p = sub.add_parser("bench", help="run a benchmark and print its table")
    p.add_argument("name", choices=_BENCHES)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options for the benchmark")
    p.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rmlab`` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "lab":
        # JupyterLab's own options (--no-browser, --port=...) may come before or after DIR
        if args.dir and args.dir.startswith("-"):
            extra, args.dir = [args.dir, *extra], None
        args.rest = [*extra, *args.rest]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except RmlabError as exc:
        print(f"rmlab {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `rmlab nodes | head`: the reader left; that is fine
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
