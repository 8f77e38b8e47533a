"""The translation both executors share: one transition in, records, tasks and facts out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rainbow.dsl.compiler import compile_pipeline
from rainbow.engine import effects
from rainbow.engine import machine as m
from rainbow.engine.records import AttemptFinished, RunChanged, StepChanged
from rainbow.observe.facts import AttemptEnded, RetryScheduled, RunEnded
from rainbow.sdk.messages import Result

from . import modules_for_tests as fixtures

NOW = datetime(2026, 12, 4, tzinfo=UTC)
SPEC, _ = compile_pipeline(fixtures.single_retried)
STEP = SPEC.steps[0].id
PLANS = effects.Plans(m.RetryPolicy(0.5, 2.0))
RUN = effects.Run("r1", SPEC, {"x": 1}, NOW - timedelta(seconds=3), 1e9)


def _through(*events: m.Event) -> tuple[m.RunState, m.RunState, list[m.Command]]:
    """The state before the last event, after it, and the last event's commands."""
    plan = PLANS.of(RUN.run_id, SPEC)
    state, commands = m.RunState.initial(plan), []
    before = state
    for event in events:
        before = state
        state, commands = m.advance(plan, state, event)
    return before, state, commands


def _kinds(done: effects.Effects) -> dict[str, Any]:
    return {
        "changes": [type(c).__name__ for c in done.changes],
        "tasks": [(t["step"], t["attempt"]) for t in done.tasks],
        "retries": [(r.step, r.attempt) for r in done.retries],
        "aborts": [(a.step, a.attempt) for a in done.aborts],
        "finish": done.finish.status if done.finish else None,
        "facts": [type(f).__name__ for f in done.facts],
    }


CASES = [
    (
        "start dispatches the first step",
        (m.Start(),),
        {
            "changes": ["RunChanged", "StepChanged"],
            "tasks": [(STEP, 1)],
            "retries": [],
            "aborts": [],
            "finish": None,
            "facts": [],
        },
    ),
    (
        "a retryable failure schedules a retry and tells it",
        (m.Start(), m.Failed(STEP, 1, "error", "boom")),
        {
            "changes": ["StepChanged"],
            "tasks": [],
            "retries": [(STEP, 2)],
            "aborts": [],
            "finish": None,
            "facts": ["RetryScheduled"],
        },
    ),
    (
        "success finishes the run with its outputs and tells its duration",
        (m.Start(), m.Succeeded(STEP, 1, {"value": 2, "started": 0.0, "finished": 0.0})),
        {
            "changes": ["StepChanged", "RunChanged"],
            "tasks": [],
            "retries": [],
            "aborts": [],
            "finish": "succeeded",
            "facts": ["RunEnded"],
        },
    ),
    (
        "a cancel aborts what runs and finishes the run",
        (m.Start(), m.Cancel("operator")),
        {
            "changes": ["StepChanged", "RunChanged"],
            "tasks": [],
            "retries": [],
            "aborts": [(STEP, 1)],
            "finish": "cancelled",
            "facts": ["RunEnded"],
        },
    ),
]


@pytest.mark.parametrize(("case", "events", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_transition_translates_to_its_records_tasks_and_facts(
    case: str, events: tuple[m.Event, ...], expected: dict[str, Any]
) -> None:
    """Each kind of transition gives the records, tasks, timers and facts both executors act on."""
    before, after, commands = _through(*events)
    assert _kinds(effects.translate(RUN, before, after, commands, NOW)) == expected


def test_a_task_carries_the_resolved_inputs_and_the_run_deadline() -> None:
    """The task of a dispatch has the step's inputs resolved and the run's deadline."""
    before, after, commands = _through(m.Start())
    (task,) = effects.translate(RUN, before, after, commands, NOW, queued_at=5.0).tasks
    assert task["inputs"]["value"] == 1
    assert (task["deadline"], task["queued_at"], task["module"]) == (1e9, 5.0, "add")


def test_a_finished_run_records_its_pipeline_outputs_and_duration() -> None:
    """The run's ending holds the pipeline's outputs; the fact holds how long it ran."""
    outputs = {"value": 2, "started": 0.0, "finished": 0.0}
    before, after, commands = _through(m.Start(), m.Succeeded(STEP, 1, outputs))
    done = effects.translate(RUN, before, after, commands, NOW)
    ending = done.changes[-1]
    assert isinstance(ending, RunChanged)
    assert (ending.status, ending.outputs, done.outputs) == (
        "succeeded",
        {"result": 2},
        {"result": 2},
    )
    assert done.facts == [RunEnded(SPEC.name, "succeeded", 3.0)]
    assert isinstance(done.changes[0], StepChanged)


def test_retries_tell_the_module_version() -> None:
    before, after, commands = _through(m.Start(), m.Failed(STEP, 1, "error", "boom"))
    done = effects.translate(RUN, before, after, commands, NOW)
    assert done.facts == [RetryScheduled("add", "latest")]


@pytest.mark.parametrize(
    ("status", "error", "event"),
    [
        ("succeeded", None, m.Succeeded(STEP, 1, {"value": 1})),
        (
            "failed",
            {
                "type": "Retry",
                "message": "later",
                "traceback": None,
                "retryable": True,
                "delay": 4.0,
            },
            m.Failed(STEP, 1, "error", "Retry: later", retryable=True, delay=4.0),
        ),
        (
            "timed_out",
            {
                "type": "StepTimeout",
                "message": "slow",
                "traceback": "t",
                "retryable": True,
                "delay": None,
            },
            m.Failed(STEP, 1, "timeout", "StepTimeout: slow", retryable=True),
        ),
    ],
)
def test_a_result_becomes_one_machine_event_and_one_record(
    status: str, error: Any, event: m.Event
) -> None:
    """A worker's result tells the machine what happened and the store how the attempt ended."""
    result = Result(
        run_id="r1",
        step=STEP,
        attempt=1,
        status=status,  # type: ignore[typeddict-item]
        outputs={"value": 1} if error is None else None,
        metrics=[{"name": "iou", "value": 0.9, "better": "high"}],
        timings={"load": 0.2},
        duration_s=1.5,
        error=error,
    )
    assert effects.machine_event(result) == event
    record = effects.result_end("r1", result, NOW)
    assert isinstance(record, AttemptFinished)
    assert (record.status, record.duration_s, record.metrics[0].name) == (status, 1.5, "iou")
    assert record.error_type == (error["type"] if error else None)
    assert effects.ended(SPEC, record) == AttemptEnded("add", "latest", status, 1.5, {"load": 0.2})


def test_a_plan_is_built_once_per_spec() -> None:
    """Runs of one spec share the plan's steps; only the run id differs."""
    plans = effects.Plans(m.RetryPolicy())
    first, second = plans.of("a", SPEC), plans.of("b", SPEC)
    assert first.steps is second.steps
    assert (first.run_id, second.run_id) == ("a", "b")
