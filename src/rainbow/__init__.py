"""Rainbow: ship research code as versioned, retried, observable pipelines.

The public API (names are part of the contract in DESIGN.md)::

    import rainbow as rb

    @rb.module(name="segment", retries=3, timeout=120)
    def segment(ctx: rb.Context, image: rb.Asset) -> Segmented: ...

    @rb.pipeline(name="room-scan", timeout=600)
    def room_scan(photo: rb.Asset):
        seg = rb.step("segment@latest", image=photo)
        return {"mask": seg.mask}

    spec = rb.compile(room_scan)

Importing Rainbow does nothing beyond defining these names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rainbow.dsl.pipeline import PipelineDef, pipeline
from rainbow.dsl.step import step
from rainbow.errors import (
    DiagnosticError,
    PermanentError,
    RainbowError,
    Retry,
    StepTimeout,
    UserError,
)
from rainbow.sdk.command import CommandModule, command_module
from rainbow.sdk.context import Context, Tolerance
from rainbow.sdk.module import PythonModule, module
from rainbow.spec.asset import Asset

__all__ = [
    "Asset",
    "CommandModule",
    "Context",
    "DiagnosticError",
    "PermanentError",
    "PipelineDef",
    "PythonModule",
    "RainbowError",
    "Retry",
    "StepTimeout",
    "Tolerance",
    "UserError",
    "command_module",
    "compile",
    "module",
    "pipeline",
    "step",
]


def compile(  # noqa: A001 - the contract names it rb.compile
    pipeline: PipelineDef, *, modules: Iterable[PythonModule | CommandModule] = ()
) -> dict[str, Any]:
    """Compile a pipeline to its spec (a dict), checked against the modules it can see.

    Modules the pipeline's file defines or imports are found without ``modules``.
    Raises :class:`DiagnosticError` listing every problem.
    """
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.spec.canonical import spec_to_dict

    interfaces = {m.rainbow_interface.name: m.rainbow_interface for m in modules}
    spec, _warnings = compile_pipeline(pipeline, interfaces)
    return spec_to_dict(spec)
