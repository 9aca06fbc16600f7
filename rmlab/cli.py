"""The ``rmlab`` command.

``rmlab validate MANIFEST``  check a manifest; every problem with its JSON path
``rmlab nodes [NAME]``       the registered node types, their params and docs
``rmlab schema``             print the manifest JSON Schema
``rmlab bench NAME``         run a benchmark by hand and print its table (``wire``)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rmlab.errors import RmlabError

_BENCHES = ("wire",)


def _validate(args: argparse.Namespace) -> int:
    from rmlab.manifest import Manifest

    m = Manifest.load(args.manifest)
    name = m.metadata.get("name") or args.manifest
    print(f"ok: {name!s} is valid ({len(m.nodes)} nodes, {len(m.connections)} connections)")
    for c in m.connections:
        print(f"  {c.source} -> {c.target}")
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


def _bench(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(f"rmlab.bench.{args.name}")
    return int(module.main(args.rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rmlab", description="rmlab: a live audio lab for Jupyter notebooks."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a manifest and list every problem")
    p.add_argument("manifest", help="path to a manifest JSON file")
    p.set_defaults(func=_validate)

    p = sub.add_parser("nodes", help="list node types with their params")
    p.add_argument("name", nargs="?", help="show one node type in full")
    p.set_defaults(func=_nodes)

    p = sub.add_parser("schema", help="print the manifest JSON Schema")
    p.set_defaults(func=_schema)

    p = sub.add_parser("bench", help="run a benchmark and print its table")
    p.add_argument("name", choices=_BENCHES)
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options for the benchmark")
    p.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rmlab`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RmlabError as exc:
        print(f"rmlab {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
