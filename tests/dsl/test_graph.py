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


def test_names_with_graphviz_syntax_in_them_are_drawn_as_written() -> None:
    """Input and output names holding record characters, quotes, backslashes or an HTML-like
    <...> go through the real `dot` and come out as the same text in the SVG."""
    import xml.etree.ElementTree as ET

    from rainbow.spec.models import PipelineSpec

    names = ["a|b", "{c}", "<x>", "<b>bold</b>", 'say "hi"', "back\\slash", "tab\\l", "end\\"]
    spec = PipelineSpec.model_validate(
        {
            "name": "graphviz-syntax",
            "timeout": 60,
            "inputs": {name: {"type": "string"} for name in names},
            "outputs": {name: {"step": "s", "output": name} for name in names},
            "steps": [
                {
                    "id": "s",
                    "module": "echo",
                    "version": "1.0",
                    "inputs": {name: {"input": name} for name in names},
                    "retries": 0,
                    "timeout": 1,
                }
            ],
        }
    )
    svg = ET.fromstring(render(spec, "svg"))
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    for name in names:
        # The input's node, its edge into the step (labelled with the port), the output's node.
        assert texts.count(name) == 3, (name, texts)
