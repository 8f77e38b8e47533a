"""What the REST API accepts, and what it answers beyond runs and modules (django-ninja schemas:
pydantic, in the OpenAPI schema). Runs and modules are answered with
:mod:`rainbow.control.web.answers`, which the CLI parses too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from ninja import Path, Schema
from pydantic import BeforeValidator, Field, field_validator

from rainbow.control.services.versions import VERSION_RULE, is_module_version
from rainbow.spec.models import VERSION_MAX_LENGTH, VERSION_PATTERN, Version


def _spec_version(value: object) -> object:
    # Before the pattern's own check, so the refusal says what a version is.
    if isinstance(value, str) and not is_module_version(value):
        raise ValueError(f"{value!r} is not a module version: {VERSION_RULE}")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
VersionName = Annotated[Version, BeforeValidator(_spec_version)]
EnvironmentName = Literal["staging", "prod"]

# Path parameters, bounded like the columns they look up (an unbounded one could reach the
# database as a value it refuses: a 500).
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
NamePath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=200)]
ModuleVersionPath = Annotated[str, Path(pattern=VERSION_PATTERN, max_length=VERSION_MAX_LENGTH)]
PipelineVersionPath = Annotated[str, Path(pattern=r"^(sha256:)?[0-9a-f]{6,64}$")]
RunIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
IdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
WorkUnitInputs = dict[str, Any]


class Problem(Schema):
    detail: str
    hint: str | None = None
    diagnostics: list[dict[str, Any]] = Field(default_factory=list)
    code: str | None = None
    """The diagnostic id (``RB-E050``), when the refusal has one in docs/diagnostics.md."""


PROBLEMS = dict.fromkeys((400, 401, 403, 404, 409, 422, 503), Problem)
"""Every refusal an endpoint may answer, for its OpenAPI responses."""


class Me(Schema):
    username: str
    role: str | None


class ModuleVersionIn(Schema):
    version: VersionName
    commit: Annotated[str, Field(max_length=64)] = ""
    interface: dict[str, Any]


class ModuleStatusIn(Schema):
    status: Literal["live", "draining", "retired"]
    reason: Annotated[str, Field(max_length=1000)] = ""


class ReleaseIn(Schema):
    """A build ``rainbow release`` made and stored; the registry records it by its rules."""

    version: VersionName
    kind: Literal["latest", "release", "hotfix", "branch"]
    commit: Annotated[str, Field(min_length=7, max_length=64, pattern=r"^[0-9a-f]+$")]
    ref: Annotated[str, Field(max_length=255)] = ""
    artifact_url: Annotated[str, Field(min_length=1, max_length=1000)]
    artifact_hash: Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
    interface: dict[str, Any]
    released_by: Annotated[str, Field(max_length=300)] = ""


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
    # At most run_service.MAX_UNITS, counted there rather than here so that the refusal says to
    # send pages (RB-E110); the body is bounded already (RAINBOW_MAX_REQUEST_BYTES).
    units: Annotated[list[WorkUnitInputs], Field(min_length=1)]
    names: list[Annotated[str, Field(max_length=200)]] | None = None
    """What each unit is called (a file, a URL); by default ``api-<index>``."""


class Submitted(Schema):
    pipeline: str
    spec_hash: str
    environment: str
    run_ids: list[str]


RunId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class RunStatusesIn(Schema):
    # At most run_service.MAX_STATUS_IDS, counted there as a submission's units are.
    run_ids: Annotated[list[RunId], Field(min_length=1)]


class RunStatusOut(Schema):
    status: str
    reason: str | None
    """Why the run ended the way it did (its first ``run_service.REASON_CHARS`` characters)."""


class RunStatusesOut(Schema):
    runs: dict[str, RunStatusOut]
    """Each asked-for run the control plane has, by run id."""
    unknown: list[str]
    """The asked-for run ids it has no run of."""


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


class CorpusVersionOut(Schema):
    """A registered corpus version, without its units (``unit_count`` says how many)."""

    name: str
    version: str
    content_hash: str
    licence: str
    use: str
    description: str
    provenance: dict[str, Any]
    unit_count: int
    registered_by: str
    registered_at: datetime

    @classmethod
    def of(cls, row: Any) -> CorpusVersionOut:
        """From a CorpusVersion row (built by hand: a resolver would also run on this schema's
        own instances, nested in another answer)."""
        return cls(
            name=row.name,
            version=row.version,
            content_hash=row.content_hash,
            licence=row.licence,
            use=row.use,
            description=row.description,
            provenance=row.provenance,
            unit_count=row.unit_count,
            registered_by=row.registered_by_name,
            registered_at=row.registered_at,
        )


class CorpusOut(Schema):
    name: str
    versions: list[CorpusVersionOut]
    """Newest first."""


class CorpusRegistered(Schema):
    outcome: Literal["created", "unchanged"]
    version: CorpusVersionOut
