"""Pydantic models of the compiled pipeline spec and of module interfaces.

These are immutable values that serialise to versioned JSON. The JSON Schema shipped beside
this file (``pipeline.schema.json``) is generated from :class:`PipelineSpec`; a test fails when
it is stale.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rainbow.spec.types import PortType

SPEC_SCHEMA_VERSION = 1

STEP_ID_PATTERN = r"^[a-z0-9][a-z0-9_\-]*(\.[a-z0-9][a-z0-9_\-]*)*$"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]*$"
VERSION_PATTERN = r"^(latest|\d+\.\d+(\.\d+)?)$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LiteralRef(_Frozen):
    """A constant written in the pipeline."""

    value: Any


class InputRef(_Frozen):
    """A pipeline input of the work unit."""

    input: str


class OutputRef(_Frozen):
    """An output of another step."""

    step: Annotated[str, Field(pattern=STEP_ID_PATTERN)]
    output: str


ValueRef = LiteralRef | InputRef | OutputRef


class PortSpec(_Frozen):
    """A declared input or output of a pipeline or module."""

    type: PortType = "any"
    required: bool = True
    default: Any = None


class StepSpec(_Frozen):
    """One step: a call of one pinned module version."""

    id: Annotated[str, Field(pattern=STEP_ID_PATTERN)]
    module: Annotated[str, Field(pattern=NAME_PATTERN)]
    version: Annotated[str, Field(pattern=VERSION_PATTERN)]
    inputs: dict[str, ValueRef] = {}
    retries: Annotated[int, Field(ge=0, le=100)]
    timeout: Annotated[float, Field(gt=0)]

    def upstream(self) -> list[str]:
        """Ids of the steps whose outputs this step reads, in input-name order."""
        return sorted({ref.step for ref in self.inputs.values() if isinstance(ref, OutputRef)})


class PipelineSpec(_Frozen):
    """A compiled pipeline: the JSON the DSL produces and every engine runs."""

    schema_: Annotated[int, Field(alias="schema", ge=1)] = SPEC_SCHEMA_VERSION
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    inputs: dict[str, PortSpec] = {}
    outputs: dict[str, OutputRef | InputRef] = {}
    timeout: Annotated[float, Field(gt=0)]
    spec_hash: str = ""
    steps: Annotated[list[StepSpec], Field(min_length=1)]

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def step(self, step_id: str) -> StepSpec:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


class ModuleInterface(_Frozen):
    """What a module version accepts and returns; recorded when a module version is registered.

    ``outputs`` is ``None`` when the module does not declare its outputs (no return annotation):
    references to its outputs then cannot be checked and the compiler says so.
    """

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    kind: Literal["python", "command"] = "python"
    inputs: dict[str, PortSpec] = {}
    outputs: dict[str, PortSpec] | None = None
    retries: Annotated[int, Field(ge=0, le=100)] = 3
    timeout: Annotated[float, Field(gt=0)] = 600.0
