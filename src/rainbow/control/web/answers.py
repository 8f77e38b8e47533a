"""What the API answers about runs and modules, built from the engine's views and read back
into them: the one shape of a run, a step, an attempt and a module's instances on the wire.

Plain pydantic, no django-ninja (which needs Django configured before it can be imported), so
the CLI's client parses answers with the same models the API answers with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from rainbow.engine.records import AttemptView, MetricValue, RunDetail, RunSummary, StepView


class Answer(BaseModel):
    # Built from the engine's (frozen dataclass) views and the ORM's rows by their attributes.
    model_config = ConfigDict(from_attributes=True)


class MetricOut(Answer):
    name: str
    value: float
    better: str
    step: str = ""
    kind: str = "quality"
    tolerance_absolute: float | None = None
    tolerance_relative: float | None = None

    def view(self) -> MetricValue:
        better: Literal["high", "low"] = "high" if self.better == "high" else "low"
        kind: Literal["quality", "timing"] = "timing" if self.kind == "timing" else "quality"
        return MetricValue(
            self.name,
            self.value,
            better,
            self.step,
            kind,
            self.tolerance_absolute,
            self.tolerance_relative,
        )


class InstanceOut(Answer):
    worker: str
    commit: str
    seen_at: datetime
    live: bool


class ModuleBuildOut(Answer):
    label: str
    commit: str
    ref: str
    artifact_hash: str
    released_by: str
    released_at: datetime


class ModuleVersionOut(Answer):
    module: str
    version: str
    commit: str
    status: str
    registered_at: datetime
    interface: dict[str, Any]
    instances: list[InstanceOut]
    status_reason: str = ""
    artifact_url: str = ""
    artifact_hash: str = ""
    builds: list[ModuleBuildOut] = []
    """The history, oldest first (the newest 100), in the answer for one version only."""


class ReleaseOut(Answer):
    version: ModuleVersionOut
    label: str
    outcome: str


class ModuleOut(Answer):
    name: str
    versions: list[ModuleVersionOut]


class RunOut(Answer):
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

    @classmethod
    def of(cls, run: Any, metrics: Sequence[MetricValue]) -> Self:
        """``run`` is a Run row; its metrics are read apart (its own ``metrics`` are every
        attempt's, and a page reads its runs' in one query)."""
        columns = {name: getattr(run, name) for name in RunOut.model_fields if name != "metrics"}
        return cls.model_validate({**columns, "metrics": metrics})

    def summary(self) -> RunSummary:
        return RunSummary(
            **self.model_dump(include=_SUMMARY_FIELDS - {"metrics"}),
            metrics=[metric.view() for metric in self.metrics],
        )


class AttemptOut(Answer):
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
    commit: str = ""
    artifact: str = ""
    cached_from: str = ""
    """The run whose outputs it reused from the step cache; empty when it ran."""
    metrics: list[MetricOut]
    timings: dict[str, float]

    def view(self) -> AttemptView:
        return AttemptView(
            **self.model_dump(exclude={"metrics"}),
            metrics=[metric.view() for metric in self.metrics],
        )


class StepOut(Answer):
    step: str
    status: str
    outputs: dict[str, Any] | None
    attempts: list[AttemptOut]

    def view(self) -> StepView:
        return StepView(
            step=self.step,
            status=self.status,
            attempts=[attempt.view() for attempt in self.attempts],
            outputs=self.outputs,
        )


class RunDetailOut(RunOut):
    """Values too large to show (inputs, outputs, step outputs) are markers
    ``{"$elided": {"bytes": N, "url": "/api/runs/…"}}``: the URL answers the value whole."""

    inputs: dict[str, Any]
    outputs: dict[str, Any] | None
    spec: dict[str, Any]
    steps: list[StepOut]
    logs_url: str | None

    @classmethod
    def of_detail(cls, run: Any, detail: RunDetail, logs_url: str | None) -> Self:
        """``run`` is the Run row (who submitted it, where); ``detail`` the store's view of it,
        its values already shown as the answer may show them."""
        head = RunOut.of(run, detail.summary.metrics)
        return cls.model_validate(
            {
                **dict(head),
                "inputs": detail.inputs,
                "outputs": detail.outputs,
                "spec": detail.spec,
                "steps": detail.steps,
                "logs_url": logs_url,
            }
        )

    def detail(self) -> RunDetail:
        return RunDetail(
            summary=self.summary(),
            inputs=self.inputs,
            outputs=self.outputs,
            spec=self.spec,
            steps=[step.view() for step in self.steps],
        )


_SUMMARY_FIELDS = {field.name for field in fields(RunSummary)} & set(RunOut.model_fields)
