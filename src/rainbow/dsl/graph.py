"""Draw a spec's DAG with Graphviz: pipeline inputs, steps (module@version) and outputs.

Input and output names are free text, so each is escaped before it goes into the DOT source: a
backslash would start one of Graphviz's label escapes (``\\l``, ``\\N``) or, at the end of a
name, swallow the closing quote, and ``<...>`` would be read as an HTML-like label.
"""

from __future__ import annotations

from typing import Any

from rainbow.errors import PlatformError, UserError
from rainbow.spec.models import InputRef, OutputRef, PipelineSpec


def to_dot(spec: PipelineSpec) -> Any:
    import graphviz
    from graphviz import escape

    dot = graphviz.Digraph(spec.name, graph_attr={"rankdir": "LR", "label": spec.name})
    dot.attr("node", fontname="Helvetica", fontsize="11")
    for name, declared in spec.inputs.items():
        label = escape(name) + f"\\n({declared.type})"
        dot.node(escape(f"input/{name}"), label, shape="invhouse", color="#4477aa")
    clusters: dict[str, Any] = {}
    for step in spec.steps:
        label = f"{step.id}\\n{step.module}@{step.version}"
        scope = step.id.rsplit(".", 1)[0] if "." in step.id else None
        target = dot
        if scope is not None:
            if scope not in clusters:
                clusters[scope] = graphviz.Digraph(name=f"cluster_{scope}")
                clusters[scope].attr(label=scope, style="rounded,dashed")
            target = clusters[scope]
        target.node(
            f"step/{step.id}", label, shape="box", style="rounded,filled", fillcolor="#eeeeff"
        )
    for cluster in clusters.values():
        dot.subgraph(cluster)
    for step in spec.steps:
        for port, ref in step.inputs.items():
            if isinstance(ref, InputRef):
                dot.edge(escape(f"input/{ref.input}"), f"step/{step.id}", label=escape(port))
            elif isinstance(ref, OutputRef):
                label = escape(f"{ref.output}→{port}")
                dot.edge(f"step/{ref.step}", f"step/{step.id}", label=label)
    for name, ref in spec.outputs.items():
        dot.node(escape(f"output/{name}"), escape(name), shape="house", color="#228833")
        source = f"step/{ref.step}" if isinstance(ref, OutputRef) else f"input/{ref.input}"
        dot.edge(escape(source), escape(f"output/{name}"))
    return dot


def render(spec: PipelineSpec, fmt: str) -> bytes:
    """The drawing in ``fmt``: svg, png, pdf, or dot (Graphviz's own text)."""
    import graphviz

    if fmt not in FORMATS:
        raise UserError(f"cannot draw to .{fmt}", hint="use an .svg, .png, .pdf or .dot file")
    dot = to_dot(spec)
    if fmt == "dot":
        return dot.source.encode()
    try:
        return dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise PlatformError(
            "Graphviz's `dot` program is not installed; install it (Debian: apt-get install "
            "graphviz) or write a .dot file"
        ) from None


FORMATS = ("svg", "png", "pdf", "dot")
