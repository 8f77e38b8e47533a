"""The JSON messages between an executor and a worker: a task in, a result out."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class Task(TypedDict):
    run_id: str
    step: str
    attempt: int
    module: str
    version: str
    inputs: dict[str, Any]
    timeout: float
    deadline: float  # epoch seconds at which the whole run times out
    queued_at: NotRequired[float]  # epoch seconds the task was dispatched (distributed engine)


class ErrorInfo(TypedDict):
    type: str
    message: str
    traceback: str | None
    retryable: bool
    delay: float | None


class MetricInfo(TypedDict):
    name: str
    value: float
    better: Literal["high", "low"]
    # Absent from older workers' results: a quality metric with no declared tolerance.
    kind: NotRequired[Literal["quality", "timing"]]
    tolerance_absolute: NotRequired[float | None]
    tolerance_relative: NotRequired[float | None]


class Result(TypedDict):
    run_id: str
    step: str
    attempt: int
    status: Literal["succeeded", "failed", "timed_out"]
    outputs: dict[str, Any] | None
    metrics: list[MetricInfo]
    timings: dict[str, float]
    duration_s: float
    error: ErrorInfo | None
    finished_at: NotRequired[float]  # epoch seconds: judged against the run's deadline
