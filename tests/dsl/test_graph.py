"""The DAG drawing connects the nodes it declares: inputs, steps and outputs."""

from __future__ import annotations

import re

import pytest

from rainbow.dsl.compiler import compile_pipeline
from rainbow.dsl.graph import render, to_dot
from rainbow.errors import UserError

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


def test_render_gives_dot_text_and_svg() -> None:
    """Dot text is Graphviz's source; SVG goes through Graphviz's dot program."""
    spec, _ = compile_pipeline(room_scan)
    assert b"digraph" in render(spec, "dot")
    assert b"<svg" in render(spec, "svg")


def test_an_unknown_format_is_a_user_error() -> None:
    """Asking for a .jpg says which formats exist."""
    spec, _ = compile_pipeline(room_scan)
    with pytest.raises(UserError, match="cannot draw"):
        render(spec, "jpg")
