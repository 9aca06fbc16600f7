"""The rmlab command, run in a real subprocess the way a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rmlab.manifest import SCHEMA_PATH

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]


def rmlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rmlab.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_validate_ok() -> None:
    r = rmlab("validate", "examples/passthrough.json")
    assert r.returncode == 0, r.stderr
    assert "ok: passthrough is valid (2 nodes, 1 connections)" in r.stdout


def test_validate_reports_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "version": "v1",
                "nodes": [
                    {"id": "a", "node_type": "PassThru"},
                    {"id": "a", "node_type": "PassThrough"},
                ],
                "connections": [{"from": "a", "to": "b"}],
            }
        )
    )
    r = rmlab("validate", str(bad))
    assert r.returncode == 1
    assert (
        "nodes[0].node_type: unknown node type 'PassThru'; did you mean 'PassThrough'?" in r.stderr
    )
    assert "nodes[1].id: duplicate id 'a'" in r.stderr
    assert "connections[0].to: no node with id 'b'" in r.stderr
    assert "Traceback" not in r.stderr


def test_nodes_lists_the_registry() -> None:
    r = rmlab("nodes", "PassThrough")
    assert r.returncode == 0
    assert "PassThrough" in r.stdout and "produces: same as input" in r.stdout
    r = rmlab("nodes", "Nope")
    assert r.returncode == 1 and "unknown node type 'Nope'" in r.stderr


def test_schema_command_prints_the_committed_schema() -> None:
    r = rmlab("schema")
    assert json.loads(r.stdout) == json.loads(SCHEMA_PATH.read_text())
