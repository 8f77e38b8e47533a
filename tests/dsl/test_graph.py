"""The DAG drawing connects the nodes it declares: inputs, steps and outputs."""

from __future__ import annotations

import re
from pathlib import Path

from rainbow.dsl.compiler import compile_pipeline
from rainbow.dsl.graph import render, to_dot

from .test_compiler import room_scan


def test_every_edge_joins_declared_nodes() -> None:
    """Each edge's ends are nodes the graph declares, and every step has a node."""
    spec, _ = compile_pipeline(room_scan)
    source = to_dot(spec).source
    declared = set(re.findall(r'^\s*"([^"]+)" \[', source, flags=re.MULTILINE))
    edges = re.findall(r'^\s*"([^"]+)" -> "([^"]+)"', source, flags=re.MULTILINE)
    assert {f"step/{s.id}" for s in spec.steps} <= declared
    assert len(edges) == 7
    assert all(a in declared and b in declared for a, b in edges)


def test_render_writes_dot_and_svg(tmp_path: Path) -> None:
    """The output suffix picks the format; SVG goes through Graphviz's dot."""
    spec, _ = compile_pipeline(room_scan)
    assert "digraph" in render(spec, tmp_path / "g.dot").read_text()
    assert "<svg" in render(spec, tmp_path / "g.svg").read_text()
