"""What the engine writes to and reads from a store: plain, immutable values.

Writes are *changes* applied in batches (one transaction per batch), so an executor can record
every attempt without paying a round trip per step. Reads return views for ``rainbow runs`` and
``rainbow show``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

AttemptStatus = Literal["running", "succeeded", "failed", "timed_out", "worker_lost", "aborted"]


@dataclass(frozen=True)
class MetricValue:
    """A metric a module reported; stores fill ``step`` with the step of its attempt on read."""

    name: str
    value: float
    better: Literal["high", "low"]
    step: str = ""
    kind: Literal["quality", "timing"] = "quality"
    """``timing``: a noisy one (a duration), which the harness compares with a rank test."""
    tolerance_absolute: float | None = None
    """How much worse than its baseline it may get, as the module declared it; None: not."""
    tolerance_relative: float | None = None


# Changes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCreated:
    run_id: str
    pipeline: str
    spec_hash: str
    spec: Mapping[str, Any]
    inputs: Mapping[str, Any]
    unit: str
    engine: str
    created_at: datetime
    step_ids: Sequence[str]
    owner: str = ""
    """host:pid of the process driving the run, for local runs: if it dies, so does the run."""
    lease_until: datetime | None = None
    """Until when the owner holds the run: it renews the lease while it drives the run, and any
    Rainbow process may close a run whose lease ran out as abandoned."""
    environment: str = ""
    """staging or prod, for runs submitted through the control plane."""
    submitted_by: str = ""


@dataclass(frozen=True)
class RunChanged:
    run_id: str
    status: str
    at: datetime
    reason: str | None = None
    outputs: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StepChanged:
    run_id: str
    step: str
    status: str
    attempts: int
    outputs: Mapping[str, Any] | None = None
    first_attempt: int = 1
    """The attempt the step's retry budget counts from (later than 1 after a resume)."""


@dataclass(frozen=True)
class AttemptStarted:
    run_id: str
    step: str
    attempt: int
    module: str
    version: str
    started_at: datetime
    worker: str = ""
    """Which worker process ran it (host:pid), for tracing a step to an instance."""
    commit: str = ""
    """The git commit of the code that ran it."""
    artifact: str = ""
    """The released build that ran it (its manifest's sha256); empty for local code."""
    delivery: int = 1
    """Which delivery of its task message this is: more than 1 when the broker delivered it
    again (its worker was lost, or its connection dropped before the ack)."""


@dataclass(frozen=True)
class AttemptRedelivered:
    """The attempt's task ran again on a later delivery (at-least-once delivery): its first
    outcome stands, and the history keeps how many times it was delivered."""

    run_id: str
    step: str
    attempt: int
    delivery: int


@dataclass(frozen=True)
class AttemptFinished:
    run_id: str
    step: str
    attempt: int
    status: AttemptStatus
    finished_at: datetime
    duration_s: float
    metrics: Sequence[MetricValue] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    exit_signal: int | None = None
    cached_from: str = ""
    """The run whose outputs this attempt reused from the step cache; empty when it ran."""


@dataclass(frozen=True)
class StepCached:
    """A succeeded attempt's outputs and metrics, kept for later steps with the same key."""

    key: str
    run_id: str
    step: str
    attempt: int
    module: str
    outputs: Mapping[str, Any]
    metrics: Sequence[MetricValue] = ()


@dataclass(frozen=True)
class CachedStep:
    """What the step cache holds under a key."""

    run_id: str
    step: str
    outputs: Mapping[str, Any]
    metrics: Sequence[MetricValue]


Change = (
    RunCreated
    | RunChanged
    | StepChanged
    | AttemptStarted
    | AttemptRedelivered
    | AttemptFinished
    | StepCached
)


# Views --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptView:
    attempt: int
    status: str
    module: str
    version: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    error_type: str | None
    error_message: str | None
    traceback: str | None
    exit_signal: int | None
    metrics: Sequence[MetricValue]
    timings: Mapping[str, float]
    worker: str = ""
    deliveries: int = 1
    """How many times the broker delivered its task: more than 1 means it ran more than once."""
    commit: str = ""
    artifact: str = ""
    cached_from: str = ""
    """The run whose outputs it reused from the step cache; empty when it ran."""


@dataclass(frozen=True)
class StepView:
    step: str
    status: str
    attempts: Sequence[AttemptView]
    outputs: Mapping[str, Any] | None


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    pipeline: str
    spec_hash: str
    unit: str
    engine: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reason: str | None
    metrics: Sequence[MetricValue]
    owner: str = ""
    lease_until: datetime | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any] | None
    spec: Mapping[str, Any]
    steps: Sequence[StepView]
