"""A module alone as a pipeline: its inputs are the pipeline's and its outputs the pipeline's,
so a module is run, checked and evaluated on work units exactly as a pipeline is."""

from __future__ import annotations

from rainbow.spec.canonical import with_hash
from rainbow.spec.models import InputRef, ModuleInterface, OutputRef, PipelineSpec, StepSpec


def module_pipeline(interface: ModuleInterface, version: str = "latest") -> PipelineSpec:
    step = StepSpec(
        id=interface.name,
        module=interface.name,
        version=version,
        inputs={name: InputRef(input=name) for name in interface.inputs},
        retries=interface.retries,
        timeout=interface.timeout,
    )
    outputs: dict[str, OutputRef | InputRef] = {
        name: OutputRef(step=interface.name, output=name) for name in interface.outputs or {}
    }
    return with_hash(
        PipelineSpec(
            name=interface.name,
            inputs=interface.inputs,
            outputs=outputs,
            timeout=interface.timeout,
            steps=[step],
        )
    )
