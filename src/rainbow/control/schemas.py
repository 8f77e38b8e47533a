"""What the REST API accepts and returns (django-ninja schemas: pydantic, in the OpenAPI schema)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from ninja import Path, Schema
from pydantic import Field, field_validator

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
VersionName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^(latest|[0-9]+(\.[0-9]+)*)$")
]
EnvironmentName = Literal["staging", "prod"]

# Path parameters, bounded like the columns they look up (an unbounded one could reach the
# database as a value it refuses: a 500).
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
NamePath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=200)]
ModuleVersionPath = Annotated[str, Path(pattern=r"^(latest|[0-9]+(\.[0-9]+)*)$", max_length=64)]
PipelineVersionPath = Annotated[str, Path(pattern=r"^(sha256:)?[0-9a-f]{6,64}$")]
RunIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
IdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
WorkUnitInputs = dict[str, Any]


class Problem(Schema):
    detail: str
    hint: str | None = None
    diagnostics: list[dict[str, Any]] = Field(default_factory=list)


class Me(Schema):
    username: str
    role: str | None


class InstanceOut(Schema):
    worker: str
    commit: str
    seen_at: datetime
    live: bool


class ModuleVersionIn(Schema):
    version: VersionName
    commit: Annotated[str, Field(max_length=64)] = ""
    interface: dict[str, Any]


class ModuleVersionOut(Schema):
    module: str
    version: str
    commit: str
    status: str
    registered_at: datetime
    interface: dict[str, Any]
    instances: list[InstanceOut]


class ModuleOut(Schema):
    name: str
    versions: list[ModuleVersionOut]


class ModuleStatusIn(Schema):
    status: Literal["live", "draining", "retired"]


class PipelineIn(Schema):
    spec: dict[str, Any]
    kind: Literal["system-default", "one-off"] = "system-default"
    source_commit: Annotated[str, Field(max_length=64)] = ""


class PipelineVersionSummary(Schema):
    pipeline: str
    spec_hash: str
    kind: str
    status: str
    author: str | None
    source_commit: str
    created_at: datetime
    approvals: list[str]
    """Approvers whose approval counts toward promotion now."""
    lapsed_approvals: list[str]
    """Approvals on record that no longer count: the approver lost the role or was deactivated."""
    default_in: list[str]


class PipelineVersionOut(PipelineVersionSummary):
    spec: dict[str, Any]


class Registration(Schema):
    created: bool
    version: PipelineVersionOut
    warnings: list[dict[str, Any]]


class PipelineOut(Schema):
    name: str
    smoke_units: list[WorkUnitInputs]
    defaults: dict[str, str]
    versions: list[PipelineVersionSummary]
    """Newest first, without their specs (GET /api/pipelines/NAME/versions/HASH has one)."""


class SmokeUnitsIn(Schema):
    units: Annotated[list[WorkUnitInputs], Field(max_length=50)]


class ApproveIn(Schema):
    comment: Annotated[str, Field(max_length=2000)] = ""


class EnvironmentIn(Schema):
    environment: EnvironmentName


class PromotionOut(Schema):
    id: int
    pipeline: str
    spec_hash: str
    environment: str
    status: str
    run_ids: list[str]
    reason: str
    requested_by: str | None
    created_at: datetime
    finished_at: datetime | None

    # Read from a Promotion row, its version, pipeline and requester selected with it.
    @staticmethod
    def resolve_id(row: Any) -> int:
        return int(row.pk)

    @staticmethod
    def resolve_pipeline(row: Any) -> str:
        return str(row.version.pipeline.name)

    @staticmethod
    def resolve_spec_hash(row: Any) -> str:
        return str(row.version.spec_hash)

    @staticmethod
    def resolve_requested_by(row: Any) -> str | None:
        return row.requested_by.get_username() if row.requested_by else None


class DefaultOut(Schema):
    pipeline: str
    environment: str
    spec_hash: str
    previous: str | None
    moved_at: datetime


class RunFilters(Schema):
    status: Annotated[str, Field(max_length=16)] | None = None
    pipeline: Annotated[str, Field(max_length=200)] | None = None
    environment: Annotated[str, Field(max_length=16)] | None = None
    engine: Annotated[str, Field(max_length=32)] | None = None
    submitted_by: Annotated[str, Field(max_length=150)] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    @field_validator("created_after", "created_before")
    @classmethod
    def storable(cls, moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of the range of dates the store holds") from None


class SubmitIn(Schema):
    pipeline: Name
    environment: EnvironmentName
    version: Annotated[str, Field(min_length=6, max_length=80)] | None = None
    units: Annotated[list[WorkUnitInputs], Field(min_length=1, max_length=1000)]
    names: Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=1000)] | None = (
        None
    )
    """What each unit is called (a file, a URL); by default ``api-<index>``."""


class Submitted(Schema):
    pipeline: str
    spec_hash: str
    environment: str
    run_ids: list[str]


class MetricOut(Schema):
    name: str
    value: float
    better: str
    step: str = ""


class RunOut(Schema):
    run_id: str
    pipeline: str
    spec_hash: str
    unit: str
    engine: str
    environment: str
    submitted_by: str
    status: str
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    metrics: list[MetricOut] = Field(default_factory=list)
    """In lists: each step's last attempt's metrics."""


class AttemptOut(Schema):
    attempt: int
    status: str
    module: str
    version: str
    worker: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    error_type: str | None
    error_message: str | None
    traceback: str | None
    exit_signal: int | None
    deliveries: int = 1
    """How many times the broker delivered its task: more than 1 means it ran more than once."""
    metrics: list[MetricOut]
    timings: dict[str, float]


class StepOut(Schema):
    step: str
    status: str
    outputs: dict[str, Any] | None
    attempts: list[AttemptOut]


class RunDetailOut(RunOut):
    """Values too large to show (inputs, outputs, step outputs) are markers
    ``{"$elided": {"bytes": N, "url": "/api/runs/…"}}``: the URL answers the value whole."""

    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    spec: dict[str, Any]
    steps: list[StepOut]
    logs_url: str | None


# Port names are free text (a command module's keys, dots, spaces): any but "/", which routes.
ValueNamePath = Annotated[str, Path(pattern=r"^[^/\x00]+$", max_length=200)]
StepIdPath = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$", max_length=200)
]


class RunValueOut(Schema):
    value: Any


class AuditOut(Schema):
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]

    @staticmethod
    def resolve_actor(entry: Any) -> str:
        return str(entry.actor_name)


class TokenIn(Schema):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIssued(TokenOut):
    token: str
