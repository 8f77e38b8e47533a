"""Resolve a step's inputs from literals, the work unit and the outputs of finished steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rainbow.spec.models import InputRef, LiteralRef, OutputRef, PipelineSpec, StepSpec


def resolve(
    step: StepSpec, unit_inputs: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for name, ref in step.inputs.items():
        if isinstance(ref, LiteralRef):
            resolved[name] = ref.value
        elif isinstance(ref, InputRef):
            resolved[name] = unit_inputs.get(ref.input)
        else:
            resolved[name] = (outputs.get(ref.step) or {}).get(ref.output)
    return resolved


def pipeline_outputs(
    spec: PipelineSpec,
    unit_inputs: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any] | None],
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, ref in spec.outputs.items():
        if isinstance(ref, OutputRef):
            result[name] = (outputs.get(ref.step) or {}).get(ref.output)
        else:
            result[name] = unit_inputs.get(ref.input)
    return result
