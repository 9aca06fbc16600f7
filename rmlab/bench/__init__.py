"""Benchmarks, run by hand with ``rmlab bench <name>`` (e.g. ``rmlab bench wire``).

Each module exposes ``main(argv) -> int`` and prints a plain-text table whose
baselines are measured in the same run, on the same machine, next to rmlab's own
numbers. Benchmarks are never part of the timed test suite: timings on shared CI
machines are noise, so tests check behaviour and benchmarks report speed.
"""
