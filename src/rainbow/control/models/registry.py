"""The registry: modules and their versions, pipelines and their versions, and release gates.

A module version records the interface it was registered with; a pipeline version records its
compiled spec, checked against the interfaces of the exact module versions it pins. Which
pipeline version users get in an environment is a :class:`DefaultPointer`, moved only through
the gates in :mod:`rainbow.control.services.release`; every move, approval and retirement is also an
:class:`AuditEntry`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models.fields.related_descriptors import RelatedManager

    Moment = datetime | None
    MaybeUser = User | None

USER = settings.AUTH_USER_MODEL


class Environment(models.TextChoices):
    STAGING = "staging"
    PROD = "prod"


class Module(models.Model):
    name: models.CharField[str, str] = models.CharField(max_length=200, unique=True)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    versions: RelatedManager[ModuleVersion]

    class Meta:
        db_table = "rainbow_module"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class ModuleVersion(models.Model):
    """``name@X.Y`` or ``name@latest``, with the interface it was registered with."""

    class Status(models.TextChoices):
        LIVE = "live", "live: new pipeline versions may pin it"
        DRAINING = "draining", "draining: pinned ones run, new pins are refused"
        RETIRED = "retired", "retired: nothing new runs on it"

    module: models.ForeignKey[Module, Module] = models.ForeignKey(
        Module, on_delete=models.CASCADE, related_name="versions"
    )
    module_id: int
    version: models.CharField[str, str] = models.CharField(max_length=64)
    commit: models.CharField[str, str] = models.CharField(max_length=64, blank=True, default="")
    interface: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField()
    status: models.CharField[str, str] = models.CharField(
        max_length=16, choices=Status.choices, default=Status.LIVE
    )
    status_reason: models.CharField[str, str] = models.CharField(
        max_length=1000, blank=True, default="", help_text="Why it was drained or retired."
    )
    artifact_url: models.CharField[str, str] = models.CharField(
        max_length=1000, blank=True, default="", help_text="Where its released build lies."
    )
    artifact_hash: models.CharField[str, str] = models.CharField(
        max_length=80, blank=True, default="", help_text="sha256 of the build's manifest."
    )
    builds: RelatedManager[ModuleBuild]
    registered_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    registered_by: models.ForeignKey[MaybeUser, MaybeUser] = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        db_table = "rainbow_module_version"
        ordering = ("module__name", "-registered_at")
        constraints = (
            models.UniqueConstraint(
                fields=["module", "version"], name="rainbow_module_version_once"
            ),
        )

    def __str__(self) -> str:
        return f"{self.module.name}@{self.version}"


class ModuleBuild(models.Model):
    """One commit a module version was built from, in release order: a version's history.

    ``latest`` and branch builds gain one per commit released; a release ``X.Y`` starts with
    one labelled ``X.Y`` and each hot fix adds ``X.Y.1``, ``X.Y.2``, … while pins stay ``@X.Y``.
    """

    module_version: models.ForeignKey[ModuleVersion, ModuleVersion] = models.ForeignKey(
        ModuleVersion, on_delete=models.CASCADE, related_name="builds"
    )
    module_version_id: int
    label: models.CharField[str, str] = models.CharField(max_length=64)
    commit: models.CharField[str, str] = models.CharField(max_length=64)
    ref: models.CharField[str, str] = models.CharField(
        max_length=255, blank=True, default="", help_text="The branch or tag released."
    )
    artifact_url: models.CharField[str, str] = models.CharField(max_length=1000)
    artifact_hash: models.CharField[str, str] = models.CharField(max_length=80)
    interface: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField()
    released_by: models.CharField[str, str] = models.CharField(
        max_length=300, help_text="The git committer of the commit, or who released it."
    )
    released_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )

    class Meta:
        db_table = "rainbow_module_build"
        ordering = ("module_version", "released_at", "id")

    def __str__(self) -> str:
        return f"{self.module_version.module.name}@{self.label} ({self.commit[:12]})"


class Pipeline(models.Model):
    name: models.CharField[str, str] = models.CharField(max_length=200, unique=True)
    smoke_units: models.JSONField[list[Any], list[Any]] = models.JSONField(
        default=list,
        blank=True,
        help_text="Work units (objects of input values) a promotion runs before the default "
        "moves; every one must succeed.",
    )
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    versions: RelatedManager[PipelineVersion]

    class Meta:
        db_table = "rainbow_pipeline"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class PipelineVersion(models.Model):
    """One compiled spec of a pipeline, identified by its content hash."""

    class Kind(models.TextChoices):
        SYSTEM_DEFAULT = "system-default"
        ONE_OFF = "one-off", "one-off (staging only)"

    class Status(models.TextChoices):
        PROPOSED = "proposed"
        ACTIVE = "active", "active: the default somewhere"
        INACTIVE = "inactive", "inactive: runnable, default nowhere"

    pipeline: models.ForeignKey[Pipeline, Pipeline] = models.ForeignKey(
        Pipeline, on_delete=models.CASCADE, related_name="versions"
    )
    pipeline_id: int
    spec_hash: models.CharField[str, str] = models.CharField(max_length=80)
    spec: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField()
    kind: models.CharField[str, str] = models.CharField(
        max_length=16, choices=Kind.choices, default=Kind.SYSTEM_DEFAULT
    )
    status: models.CharField[str, str] = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PROPOSED
    )
    author: models.ForeignKey[MaybeUser, MaybeUser] = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_id: int | None
    source_commit: models.CharField[str, str] = models.CharField(
        max_length=64, blank=True, default=""
    )
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )

    approvals: RelatedManager[Approval]
    promotions: RelatedManager[Promotion]

    class Meta:
        db_table = "rainbow_pipeline_version"
        ordering = ("pipeline__name", "-created_at")
        constraints = (
            models.UniqueConstraint(
                fields=["pipeline", "spec_hash"], name="rainbow_pipeline_version_once"
            ),
        )

    def __str__(self) -> str:
        return f"{self.pipeline.name}@{self.short_hash}"

    @property
    def short_hash(self) -> str:
        return self.spec_hash.removeprefix("sha256:")[:12]


class Approval(models.Model):
    version: models.ForeignKey[PipelineVersion, PipelineVersion] = models.ForeignKey(
        PipelineVersion, on_delete=models.CASCADE, related_name="approvals"
    )
    approver: models.ForeignKey[User, User] = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="+"
    )
    comment: models.TextField[str, str] = models.TextField(blank=True, default="")
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )

    class Meta:
        db_table = "rainbow_approval"
        constraints = (
            models.UniqueConstraint(fields=["version", "approver"], name="rainbow_approval_once"),
        )

    def __str__(self) -> str:
        return f"{self.version} approved by {self.approver}"


class DefaultPointer(models.Model):
    """The version users get for a pipeline name in an environment, and the one before it."""

    pipeline: models.ForeignKey[Pipeline, Pipeline] = models.ForeignKey(
        Pipeline, on_delete=models.CASCADE, related_name="defaults"
    )
    pipeline_id: int
    environment: models.CharField[str, str] = models.CharField(
        max_length=16, choices=Environment.choices
    )
    version: models.ForeignKey[PipelineVersion, PipelineVersion] = models.ForeignKey(
        PipelineVersion, on_delete=models.PROTECT, related_name="+"
    )
    version_id: int
    previous: models.ForeignKey[PipelineVersion | None, PipelineVersion | None] = models.ForeignKey(
        PipelineVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    moved_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    moved_by: models.ForeignKey[MaybeUser, MaybeUser] = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        db_table = "rainbow_default_pointer"
        constraints = (
            models.UniqueConstraint(
                fields=["pipeline", "environment"], name="rainbow_one_default_per_environment"
            ),
        )

    def __str__(self) -> str:
        return f"{self.pipeline.name} in {self.environment}: {self.version.short_hash}"


class Promotion(models.Model):
    """A request to make a version the default in an environment, gated by smoke runs."""

    class Status(models.TextChoices):
        SMOKE_TESTING = "smoke-testing"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    version: models.ForeignKey[PipelineVersion, PipelineVersion] = models.ForeignKey(
        PipelineVersion, on_delete=models.CASCADE, related_name="promotions"
    )
    environment: models.CharField[str, str] = models.CharField(
        max_length=16, choices=Environment.choices
    )
    requested_by: models.ForeignKey[MaybeUser, MaybeUser] = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status: models.CharField[str, str] = models.CharField(
        max_length=16, choices=Status.choices, default=Status.SMOKE_TESTING
    )
    run_ids: models.JSONField[list[str], list[str]] = models.JSONField(default=list)
    reason: models.TextField[str, str] = models.TextField(blank=True, default="")
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    finished_at: models.DateTimeField[Moment, Moment] = models.DateTimeField(null=True)

    class Meta:
        db_table = "rainbow_promotion"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.version} → {self.environment} ({self.status})"


class AuditEntry(models.Model):
    """Who did what to which, and when: written in the transaction of the change itself."""

    at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now, db_index=True
    )
    actor: models.ForeignKey[MaybeUser, MaybeUser] = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_name: models.CharField[str, str] = models.CharField(
        max_length=150, help_text="Kept when the user is deleted."
    )
    action: models.CharField[str, str] = models.CharField(max_length=64)
    target: models.CharField[str, str] = models.CharField(max_length=300)
    detail: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField(default=dict)

    class Meta:
        db_table = "rainbow_audit"
        ordering = ("-at", "-id")
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target}"


class ApiToken(models.Model):
    """A user's token for the REST API; only its SHA-256 digest is stored."""

    user: models.ForeignKey[User, User] = models.ForeignKey(
        USER, on_delete=models.CASCADE, related_name="api_tokens"
    )
    user_id: int
    name: models.CharField[str, str] = models.CharField(max_length=100)
    prefix: models.CharField[str, str] = models.CharField(
        max_length=16, help_text="The token's first characters, to tell tokens apart."
    )
    digest: models.CharField[str, str] = models.CharField(max_length=64, unique=True)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    last_used_at: models.DateTimeField[Moment, Moment] = models.DateTimeField(null=True)
    revoked_at: models.DateTimeField[Moment, Moment] = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "rainbow_api_token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"
