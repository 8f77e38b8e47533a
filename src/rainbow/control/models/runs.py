"""Runs as the control plane stores them: a run, its step runs, their attempts and metrics, and
what the conductor keeps beside them (timers, outbox, instances).

The engine writes these rows through :class:`rainbow.control.persistence.store.DjangoStore`;
the admin and the REST API read them. Statuses are plain strings (the engine's state machine owns
their meaning).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    # Model fields are typed by what they hold (django-stubs without its mypy plugin).
    Moment = datetime | None
    JSONObject = dict[str, Any] | None


class Run(models.Model):
    """One work unit through one pipeline version."""

    run_id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=64)
    pipeline: models.CharField[str, str] = models.CharField(max_length=200)
    spec_hash: models.CharField[str, str] = models.CharField(max_length=80)
    spec: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField()
    inputs: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField()
    unit: models.CharField[str, str] = models.CharField(
        max_length=1000, help_text="Which work unit: a file, URL or name."
    )
    engine: models.CharField[str, str] = models.CharField(max_length=32)
    environment: models.CharField[str, str] = models.CharField(
        max_length=16,
        blank=True,
        default="",
        db_default="",
        help_text="staging or prod when submitted through the control plane.",
    )
    submitted_by: models.CharField[str, str] = models.CharField(
        max_length=150, blank=True, default="", db_default="", help_text="The user who asked."
    )
    owner: models.CharField[str, str] = models.CharField(
        max_length=255, blank=True, default="", help_text="host:pid driving a local run"
    )
    lease_until: models.DateTimeField[Moment, Moment] = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The owner renews this while it drives the run; past it, the run is abandoned.",
    )
    status: models.CharField[str, str] = models.CharField(max_length=16)
    reason: models.TextField[str | None, str | None] = models.TextField(
        null=True, help_text="Why the run ended the way it did."
    )
    outputs: models.JSONField[JSONObject, JSONObject] = models.JSONField(null=True)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    started_at: models.DateTimeField[Moment, Moment] = models.DateTimeField(null=True)
    finished_at: models.DateTimeField[Moment, Moment] = models.DateTimeField(null=True)

    class Meta:
        db_table = "rainbow_run"
        indexes = (
            # Run lists are newest first, optionally for one status.
            models.Index(fields=["-created_at", "-run_id"], name="rainbow_run_newest"),
            models.Index(fields=["status", "-created_at"], name="rainbow_run_status_newest"),
            models.Index(fields=["pipeline", "-created_at"], name="rainbow_run_pipeline_newest"),
            # The control plane's other filters: without these, a user with few runs among many
            # (or none) makes the list read the whole table (bench/run_list_scale.py).
            models.Index(
                fields=["submitted_by", "-created_at"], name="rainbow_run_submitter_newest"
            ),
            models.Index(fields=["environment", "-created_at"], name="rainbow_run_env_newest"),
            models.Index(fields=["engine", "-created_at"], name="rainbow_run_engine_newest"),
        )

    def __str__(self) -> str:
        return self.run_id


class StepRun(models.Model):
    """One step of a run; ``attempts`` counts the attempts made so far."""

    # The unique (run, step) constraint's index serves lookups by run: no second index.
    run: models.ForeignKey[Run, Run] = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="steps", db_index=False
    )
    run_id: str
    step: models.CharField[str, str] = models.CharField(max_length=200)
    position: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(
        help_text="Index of the step in the spec."
    )
    status: models.CharField[str, str] = models.CharField(max_length=16)
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(default=0)
    outputs: models.JSONField[JSONObject, JSONObject] = models.JSONField(null=True)
    first_attempt: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(
        default=1, help_text="The attempt the retry budget counts from (after a resume)."
    )

    class Meta:
        db_table = "rainbow_step_run"
        constraints = (
            models.UniqueConstraint(fields=["run", "step"], name="rainbow_step_run_unique_step"),
        )

    def __str__(self) -> str:
        return f"{self.run_id}:{self.step}"


class Attempt(models.Model):
    """One try of a step run, numbered from 1."""

    # The unique (step_run, attempt) constraint's index serves lookups by step run.
    step_run: models.ForeignKey[StepRun, StepRun] = models.ForeignKey(
        StepRun, on_delete=models.CASCADE, related_name="attempt_set", db_index=False
    )
    step_run_id: int
    attempt: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    status: models.CharField[str, str] = models.CharField(max_length=16)
    module: models.CharField[str, str] = models.CharField(max_length=200)
    version: models.CharField[str, str] = models.CharField(max_length=64)
    started_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    finished_at: models.DateTimeField[Moment, Moment] = models.DateTimeField(null=True)
    duration_s: models.FloatField[float | None, float | None] = models.FloatField(null=True)
    error_type: models.CharField[str | None, str | None] = models.CharField(
        max_length=300, null=True
    )
    error_message: models.TextField[str | None, str | None] = models.TextField(null=True)
    traceback: models.TextField[str | None, str | None] = models.TextField(null=True)
    exit_signal: models.IntegerField[int | None, int | None] = models.IntegerField(
        null=True, help_text="The signal that killed the worker."
    )
    timings: models.JSONField[dict[str, float], dict[str, float]] = models.JSONField(
        default=dict, help_text="Seconds spent per ctx.timeout block."
    )
    worker: models.CharField[str, str] = models.CharField(
        max_length=255, blank=True, default="", help_text="The worker that ran it (host:pid)."
    )
    commit: models.CharField[str, str] = models.CharField(
        max_length=64, blank=True, default="", db_default="", help_text="The code's git commit."
    )
    artifact: models.CharField[str, str] = models.CharField(
        max_length=80,
        blank=True,
        default="",
        db_default="",
        help_text="The released build that ran it (sha256 of its manifest); empty: local code.",
    )
    cached_from: models.CharField[str, str] = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text="The run whose outputs it reused from the step cache; empty: it ran.",
    )
    deliveries: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(
        default=1,
        db_default=1,
        help_text="How many times the broker delivered its task (more than 1: it ran again).",
    )

    class Meta:
        db_table = "rainbow_attempt"
        constraints = (
            models.UniqueConstraint(
                fields=["step_run", "attempt"], name="rainbow_attempt_unique_number"
            ),
        )

    def __str__(self) -> str:
        return f"{self.step_run}:{self.attempt}"


class Metric(models.Model):
    """A number a module reported for one attempt, with the direction that counts as better."""

    class Better(models.TextChoices):
        HIGH = "high"
        LOW = "low"

    class Kind(models.TextChoices):
        QUALITY = "quality"
        """Deterministic on canned inputs: compared directly."""
        TIMING = "timing"
        """Noisy: compared as samples, with a rank test."""

    attempt: models.ForeignKey[Attempt, Attempt] = models.ForeignKey(
        Attempt, on_delete=models.CASCADE, related_name="metrics"
    )
    attempt_id: int
    # The run and step are repeated from the attempt so trends over runs need no joins; the
    # (run, name) index serves lookups by run.
    run: models.ForeignKey[Run, Run] = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="metrics", db_index=False
    )
    run_id: str
    step: models.CharField[str, str] = models.CharField(max_length=200)
    name: models.CharField[str, str] = models.CharField(max_length=200)
    value: models.FloatField[float, float] = models.FloatField()
    better: models.CharField[str, str] = models.CharField(max_length=4, choices=Better.choices)
    kind: models.CharField[str, str] = models.CharField(
        max_length=8, choices=Kind.choices, default=Kind.QUALITY
    )
    # How much worse than the baseline it may get, as the module declared it (None: not declared).
    tolerance_absolute: models.FloatField[float | None, float | None] = models.FloatField(null=True)
    tolerance_relative: models.FloatField[float | None, float | None] = models.FloatField(null=True)

    class Meta:
        db_table = "rainbow_metric"
        indexes = (models.Index(fields=["run", "name"], name="rainbow_metric_run_name"),)

    def __str__(self) -> str:
        return f"{self.name}={self.value:g}"


class StepCache(models.Model):
    """A succeeded step's outputs and metrics under the key of its module, code and inputs
    (``rainbow.engine.cache``), for later steps with the same key to reuse."""

    key: models.CharField[str, str] = models.CharField(max_length=71, unique=True)
    module: models.CharField[str, str] = models.CharField(max_length=200)
    # The run is named, not referenced: an entry outlives nothing it needs from the run's rows.
    run_id: models.CharField[str, str] = models.CharField(max_length=64)
    step: models.CharField[str, str] = models.CharField(max_length=200)
    attempt: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    outputs: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField()
    metrics: models.JSONField[list[Any], list[Any]] = models.JSONField(default=list)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )

    class Meta:
        db_table = "rainbow_step_cache"

    def __str__(self) -> str:
        return f"{self.module} {self.key[:19]} from {self.run_id}:{self.step}"


class Timer(models.Model):
    """Something the conductor must do at ``due_at``: a retry, a run deadline, a watchdog."""

    run: models.ForeignKey[Run, Run] = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="timers"
    )
    run_id: str
    kind: models.CharField[str, str] = models.CharField(max_length=16)
    step: models.CharField[str, str] = models.CharField(max_length=200, blank=True)
    attempt: models.IntegerField[int, int] = models.IntegerField(default=0)
    due_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()

    class Meta:
        db_table = "rainbow_timer"
        indexes = (
            models.Index(fields=["due_at"], name="rainbow_timer_due"),
            models.Index(fields=["run", "kind"], name="rainbow_timer_run_kind"),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.run_id} {self.step}:{self.attempt} at {self.due_at}"


class OutboxMessage(models.Model):
    """A task message decided in a transaction, published after it commits."""

    queue: models.CharField[str, str] = models.CharField(max_length=255)
    body: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField()
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()

    class Meta:
        db_table = "rainbow_outbox"
        indexes = (models.Index(fields=["created_at"], name="rainbow_outbox_age"),)

    def __str__(self) -> str:
        return f"{self.queue}: {self.body.get('run_id')}:{self.body.get('step')}"


class Instance(models.Model):
    """A worker serving one module version, as it last announced itself."""

    module: models.CharField[str, str] = models.CharField(max_length=200)
    version: models.CharField[str, str] = models.CharField(max_length=64)
    worker: models.CharField[str, str] = models.CharField(
        max_length=255, help_text="host and process of the worker"
    )
    commit: models.CharField[str, str] = models.CharField(max_length=64, blank=True)
    interface: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField(default=dict)
    seen_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()

    class Meta:
        db_table = "rainbow_instance"
        constraints = (
            models.UniqueConstraint(
                fields=["module", "version", "worker"], name="rainbow_instance_unique_worker"
            ),
        )

    def __str__(self) -> str:
        return f"{self.module}@{self.version} on {self.worker}"
