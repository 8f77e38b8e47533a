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
BRANCH_PREFIX = "branch-"
"""A branch build's version: ``branch-`` and the branch's name made safe (``rainbow release``
on a branch that is neither main nor release-X.Y). Only one-off pipelines pin one."""
VERSION_PATTERN = r"^(latest|\d+\.\d+(\.\d+)?|branch-[a-z0-9][a-z0-9\-]*)$"

# As wide as the columns that store them (rainbow_pipeline.name, rainbow_module.name,
# rainbow_step_run.step, rainbow_attempt.version, ...): a longer name would be accepted by SQLite
# and refused by PostgreSQL halfway through a registration or a run.
NAME_MAX_LENGTH = 200
VERSION_MAX_LENGTH = 32
"""Narrower than its columns (64): `rainbow.<module>.<version>` must stay a queue name RabbitMQ
accepts and the outbox stores (255 bytes) with the longest module name."""
MAX_RETRIES = 100
MAX_TIMEOUT_S = 30 * 24 * 3600.0
"""Thirty days: longer than any step or run a pipeline needs, and a bound the engines' clocks,
timers and the databases' dates can all add without overflowing."""
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S)]
Retries = Annotated[int, Field(ge=0, le=MAX_RETRIES)]


def is_count(value: object) -> bool:
    """A retry count the spec accepts."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_RETRIES


def is_duration(value: object) -> bool:
    """A timeout the spec accepts, in seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 < value <= MAX_TIMEOUT_S


Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)]
StepId = Annotated[str, Field(pattern=STEP_ID_PATTERN, max_length=NAME_MAX_LENGTH)]
Version = Annotated[str, Field(pattern=VERSION_PATTERN, max_length=VERSION_MAX_LENGTH)]
PortName = Annotated[str, Field(max_length=NAME_MAX_LENGTH)]
"""Input and output names are free text (a command module's may be anything), bounded alike."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LiteralRef(_Frozen):
    """A constant written in the pipeline."""

    value: Any


class InputRef(_Frozen):
    """A pipeline input of the work unit."""

    input: PortName


class OutputRef(_Frozen):
    """An output of another step."""

    step: StepId
    output: PortName


ValueRef = LiteralRef | InputRef | OutputRef


class PortSpec(_Frozen):
    """A declared input or output of a pipeline or module."""

    type: PortType = "any"
    required: bool = True
    default: Any = None


class StepSpec(_Frozen):
    """One step: a call of one pinned module version."""

    id: StepId
    module: Name
    version: Version
    inputs: dict[PortName, ValueRef] = {}
    retries: Retries
    timeout: Timeout

    def upstream(self) -> list[str]:
        """Ids of the steps whose outputs this step reads, in input-name order."""
        return sorted({ref.step for ref in self.inputs.values() if isinstance(ref, OutputRef)})


class PipelineSpec(_Frozen):
    """A compiled pipeline: the JSON the DSL produces and every engine runs."""

    schema_: Annotated[int, Field(alias="schema", ge=1)] = SPEC_SCHEMA_VERSION
    name: Name
    inputs: dict[PortName, PortSpec] = {}
    outputs: dict[PortName, OutputRef | InputRef] = {}
    timeout: Timeout
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

    name: Name
    kind: Literal["python", "command"] = "python"
    inputs: dict[PortName, PortSpec] = {}
    outputs: dict[PortName, PortSpec] | None = None
    retries: Retries = 3
    timeout: Timeout = 600.0
    cache: bool = True
    """Whether a step's outputs may be reused by a later step with the same code and inputs;
    False for a module whose outputs differ from run to run."""
