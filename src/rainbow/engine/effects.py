"""What the state machine's decisions mean outside it: records to store, tasks to send, facts.

Both executors feed the machine and carry out what it decides; this module is the part they
share, the translation of a transition into values, with no I/O. Each executor keeps only its
own: the conductor its timers, outbox and transactions; the local engine its heaps, pool and
flush. Tasks, timers and aborts are handed back as they came from the machine (each executor
queues, times and stops them its own way); records and facts are complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from rainbow.engine import machine as m
from rainbow.engine.inputs import pipeline_outputs, resolve
from rainbow.engine.records import (
    AttemptFinished,
    AttemptStatus,
    Change,
    MetricValue,
    RunChanged,
    StepChanged,
)
from rainbow.observe.facts import AttemptEnded, Fact, RetryScheduled, RunEnded
from rainbow.sdk.messages import ErrorInfo, Result, Task
from rainbow.spec.models import PipelineSpec

PLANS_KEPT = 256
"""Specs whose plans an executor keeps: a conductor drives runs of many pipeline versions."""


class Plans:
    """The machine's plan of each spec, built once per spec and reused for every run of it."""

    def __init__(self, retry: m.RetryPolicy) -> None:
        self.retry = retry
        self._by_spec: dict[str, m.Plan] = {}

    def of(self, run_id: str, spec: PipelineSpec) -> m.Plan:
        key = spec.spec_hash or spec.model_dump_json()
        plan = self._by_spec.get(key)
        if plan is None:
            if len(self._by_spec) >= PLANS_KEPT:
                self._by_spec.pop(next(iter(self._by_spec)))
            plan = self._by_spec[key] = m.Plan.from_spec("", spec, self.retry)
        # The run id only seeds the retry jitter: the steps tuple is shared, not rebuilt.
        return replace(plan, run_id=run_id)


@dataclass(frozen=True)
class Run:
    """What the translation needs to know of one run besides its state."""

    run_id: str
    spec: PipelineSpec
    inputs: Mapping[str, Any]
    started_at: datetime | None
    deadline: float
    """Epoch seconds at which the run times out, sent with every task."""


@dataclass
class Effects:
    """One transition, translated."""

    changes: list[Change] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    retries: list[m.ScheduleRetry] = field(default_factory=list)
    aborts: list[m.Abort] = field(default_factory=list)
    finish: m.Finish | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    """The pipeline's outputs, once it finished and succeeded."""
    facts: list[Fact] = field(default_factory=list)


def translate(
    run: Run,
    before: m.RunState,
    after: m.RunState,
    commands: Sequence[m.Command],
    now: datetime,
    *,
    queued_at: float | None = None,
) -> Effects:
    """The records, tasks and facts of the machine going from ``before`` to ``after``."""
    effects = Effects()
    if before.status != "running" and after.status == "running":
        effects.changes.append(RunChanged(run.run_id, "running", now))
    for step_id, step in after.steps.items():
        if before.steps.get(step_id) is not step:
            effects.changes.append(
                StepChanged(
                    run.run_id, step_id, step.status, step.attempt, step.outputs, step.first_attempt
                )
            )
    for command in commands:
        if isinstance(command, m.Dispatch):
            effects.tasks.append(task_of(run, after, command, queued_at))
        elif isinstance(command, m.ScheduleRetry):
            retried = run.spec.step(command.step)
            effects.retries.append(command)
            effects.facts.append(RetryScheduled(retried.module, retried.version))
        elif isinstance(command, m.Abort):
            effects.aborts.append(command)
        else:
            ending = _ending(run, after, command, now)
            effects.finish, effects.outputs = command, dict(ending.outputs or {})
            effects.changes.append(ending)
            if run.started_at is not None:
                took = (now - run.started_at).total_seconds()
                effects.facts.append(RunEnded(run.spec.name, command.status, took))
    return effects


def task_of(
    run: Run, state: m.RunState, command: m.Dispatch, queued_at: float | None = None
) -> Task:
    step = run.spec.step(command.step)
    outputs = {sid: s.outputs for sid, s in state.steps.items()}
    task = Task(
        run_id=run.run_id,
        step=step.id,
        attempt=command.attempt,
        module=step.module,
        version=step.version,
        inputs=resolve(step, run.inputs, outputs),
        timeout=step.timeout,
        deadline=run.deadline,
    )
    if queued_at is not None:
        task["queued_at"] = queued_at
    return task


def _ending(run: Run, state: m.RunState, command: m.Finish, now: datetime) -> RunChanged:
    outputs: dict[str, Any] = {}
    if command.status == "succeeded":
        step_outputs = {sid: s.outputs for sid, s in state.steps.items()}
        outputs = pipeline_outputs(run.spec, run.inputs, step_outputs)
    return RunChanged(run.run_id, command.status, now, command.reason, outputs)


def aborted(
    run_id: str, abort: m.Abort, now: datetime, duration_s: float, reason: str | None
) -> AttemptFinished:
    """The record of an attempt the machine stopped (it had started: unstarted ones have none)."""
    return AttemptFinished(
        run_id,
        abort.step,
        abort.attempt,
        "aborted",
        now,
        duration_s,
        error_type="Aborted",
        error_message=reason,
    )


def machine_event(result: Result) -> m.Succeeded | m.Failed:
    """What a worker's (checked) result tells the machine."""
    error = result["error"]
    if error is None:
        return m.Succeeded(result["step"], result["attempt"], result["outputs"] or {})
    return m.Failed(
        result["step"],
        result["attempt"],
        "timeout" if result["status"] == "timed_out" else "error",
        f"{error['type']}: {error['message']}",
        retryable=error["retryable"],
        delay=error["delay"],
    )


def attempt_end(
    run_id: str,
    step: str,
    attempt: int,
    status: AttemptStatus,
    now: datetime,
    *,
    duration_s: float,
    metrics: Sequence[MetricValue] = (),
    timings: Mapping[str, float] | None = None,
    error: ErrorInfo | Mapping[str, Any] | None = None,
    exit_signal: int | None = None,
) -> AttemptFinished:
    return AttemptFinished(
        run_id,
        step,
        attempt,
        status,
        now,
        duration_s,
        metrics=tuple(metrics),
        timings=dict(timings or {}),
        error_type=error["type"] if error else None,
        error_message=error["message"] if error else None,
        traceback=error.get("traceback") if error else None,
        exit_signal=exit_signal,
    )


def result_end(run_id: str, result: Result, now: datetime) -> AttemptFinished:
    """The record of an attempt a worker reported on."""
    return attempt_end(
        run_id,
        result["step"],
        result["attempt"],
        result["status"],
        now,
        duration_s=result["duration_s"],
        metrics=[MetricValue(**mv) for mv in result["metrics"]],
        timings=result["timings"],
        error=result["error"],
    )


def ended(spec: PipelineSpec, record: AttemptFinished, *, measured: bool = True) -> AttemptEnded:
    """The fact of an attempt's end, for the process that ended it to tell; not ``measured``
    when its duration is a placeholder (no result came back to say how long it ran)."""
    step = spec.step(record.step)
    took = record.duration_s if measured else None
    return AttemptEnded(step.module, step.version, record.status, took, record.timings)
