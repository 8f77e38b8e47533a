"""The run state machine: ``(state, event) -> (state, commands)``, pure, no I/O.

Every executor (the local process pool, the Celery conductor) feeds events to :func:`advance` and
carries out the commands it returns; it never decides anything itself. Events for a superseded
attempt, a finished step or a finished run change nothing, so duplicated, reordered and late events
are harmless. Randomness (retry jitter) is derived from the run id, step and attempt, so the same
events always give the same commands.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from rainbow.spec.models import PipelineSpec

RunStatus = Literal["pending", "running", "succeeded", "failed", "timed_out", "cancelled"]
StepStatus = Literal["waiting", "running", "retrying", "succeeded", "failed", "cancelled"]
FailureKind = Literal["error", "timeout", "worker_lost"]

FINISHED_RUN: frozenset[str] = frozenset({"succeeded", "failed", "timed_out", "cancelled"})
RESUMABLE: frozenset[str] = frozenset({"failed", "timed_out", "cancelled"})


@dataclass(frozen=True)
class StepPlan:
    id: str
    upstream: tuple[str, ...]
    max_attempts: int


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with "equal jitter": a delay in [half, full] of the exponential."""

    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, run_id: str, step: str, attempt: int) -> float:
        # Capped exponent: after many resumes attempt numbers grow past what a float can hold.
        full = min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 64))
        digest = hashlib.blake2b(f"{run_id}:{step}:{attempt}".encode(), digest_size=8).digest()
        fraction = int.from_bytes(digest, "big") / 2**64
        return full / 2 + fraction * full / 2


@dataclass(frozen=True)
class Plan:
    """What the machine needs to know of a spec: the DAG and each step's attempt budget."""

    run_id: str
    steps: tuple[StepPlan, ...]
    retry: RetryPolicy = RetryPolicy()

    @classmethod
    def from_spec(cls, run_id: str, spec: PipelineSpec, retry: RetryPolicy | None = None) -> Plan:
        steps = tuple(
            StepPlan(id=s.id, upstream=tuple(s.upstream()), max_attempts=s.retries + 1)
            for s in spec.steps
        )
        return cls(run_id=run_id, steps=steps, retry=retry or RetryPolicy())


@dataclass(frozen=True)
class StepState:
    status: StepStatus = "waiting"
    attempt: int = 0
    outputs: Mapping[str, Any] | None = None
    first_attempt: int = 1
    """The attempt this step's retry budget counts from: a resumed run gives failed steps a new
    budget while their attempt numbers go on (every attempt keeps its own record)."""


@dataclass(frozen=True)
class RunState:
    status: RunStatus = "pending"
    steps: Mapping[str, StepState] = field(default_factory=dict)
    reason: str | None = None

    @classmethod
    def initial(cls, plan: Plan) -> RunState:
        return cls(steps={s.id: StepState() for s in plan.steps})


# Events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Succeeded:
    step: str
    attempt: int
    outputs: Mapping[str, Any]


@dataclass(frozen=True)
class Failed:
    step: str
    attempt: int
    kind: FailureKind
    message: str
    retryable: bool = True
    delay: float | None = None


@dataclass(frozen=True)
class RetryDue:
    step: str
    attempt: int


@dataclass(frozen=True)
class DeadlineExceeded:
    pass


@dataclass(frozen=True)
class Cancel:
    reason: str


@dataclass(frozen=True)
class Halt:
    """The executor cannot go on with this run (the store refuses what it would record): the
    run fails, whatever its state, unless it has ended already."""

    reason: str


@dataclass(frozen=True)
class Resume:
    """Run a failed, timed-out or cancelled run again from the steps that did not succeed."""


Event = Start | Succeeded | Failed | RetryDue | DeadlineExceeded | Cancel | Halt | Resume


# Commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispatch:
    step: str
    attempt: int


@dataclass(frozen=True)
class ScheduleRetry:
    step: str
    attempt: int
    delay: float


@dataclass(frozen=True)
class Abort:
    step: str
    attempt: int


@dataclass(frozen=True)
class Finish:
    status: RunStatus
    reason: str | None = None


Command = Dispatch | ScheduleRetry | Abort | Finish


def advance(plan: Plan, state: RunState, event: Event) -> tuple[RunState, list[Command]]:
    """Apply one event; return the new state and what the executor must do."""
    if isinstance(event, Start):
        return _start(plan, state)
    if isinstance(event, Resume):
        return _resume(plan, state)
    if isinstance(event, Cancel) and state.status == "pending":
        return _end(state, "cancelled", event.reason)
    if isinstance(event, Halt) and state.status in ("pending", "running"):
        return _end(state, "failed", event.reason)
    if state.status != "running":
        return state, []
    if isinstance(event, Succeeded):
        return _succeeded(plan, state, event)
    if isinstance(event, Failed):
        return _failed(plan, state, event)
    if isinstance(event, RetryDue):
        return _retry_due(state, event)
    if isinstance(event, DeadlineExceeded):
        return _end(state, "timed_out", "the run exceeded its deadline")
    return _end(state, "cancelled", event.reason)


def _start(plan: Plan, state: RunState) -> tuple[RunState, list[Command]]:
    if state.status != "pending":
        return state, []
    steps = dict(state.steps)
    commands = _dispatch_ready(plan, steps)
    return replace(state, status="running", steps=steps), commands


def _resume(plan: Plan, state: RunState) -> tuple[RunState, list[Command]]:
    if state.status not in RESUMABLE:
        return state, []
    steps = {
        step_id: step
        if step.status == "succeeded"
        else StepState("waiting", step.attempt, None, first_attempt=step.attempt + 1)
        for step_id, step in state.steps.items()
    }
    commands = _dispatch_ready(plan, steps)
    return replace(state, status="running", steps=steps, reason=None), commands


def _dispatch_ready(plan: Plan, steps: dict[str, StepState]) -> list[Command]:
    """Dispatch every waiting step whose inputs all exist (mutates ``steps``)."""
    commands: list[Command] = []
    for step in plan.steps:
        current = steps[step.id]
        if current.status == "waiting" and all(
            steps[up].status == "succeeded" for up in step.upstream
        ):
            steps[step.id] = replace(current, status="running", attempt=current.attempt + 1)
            commands.append(Dispatch(step.id, current.attempt + 1))
    return commands


def is_current(state: RunState, step: str, attempt: int) -> bool:
    """Whether ``attempt`` is the one running now for ``step``: any other is stale."""
    current = state.steps.get(step)
    return current is not None and current.status == "running" and current.attempt == attempt


def _succeeded(plan: Plan, state: RunState, event: Succeeded) -> tuple[RunState, list[Command]]:
    if not is_current(state, event.step, event.attempt):
        return state, []
    steps = dict(state.steps)
    done = steps[event.step]
    steps[event.step] = replace(done, status="succeeded", outputs=dict(event.outputs))
    commands = _dispatch_ready(plan, steps)
    if all(s.status == "succeeded" for s in steps.values()):
        return replace(state, status="succeeded", steps=steps), [*commands, Finish("succeeded")]
    return replace(state, steps=steps), commands


def _failed(plan: Plan, state: RunState, event: Failed) -> tuple[RunState, list[Command]]:
    if not is_current(state, event.step, event.attempt):
        return state, []
    budget = next(s.max_attempts for s in plan.steps if s.id == event.step)
    steps = dict(state.steps)
    current = steps[event.step]
    used = event.attempt - current.first_attempt + 1
    if event.retryable and used < budget:
        steps[event.step] = replace(current, status="retrying")
        delay = event.delay
        if delay is None:
            delay = plan.retry.delay(plan.run_id, event.step, event.attempt)
        retry = ScheduleRetry(event.step, event.attempt + 1, delay)
        return replace(state, steps=steps), [retry]
    steps[event.step] = replace(current, status="failed")
    tries = f"after {used} attempt{'s' if used > 1 else ''}"
    reason = f"step {event.step!r} failed {tries}: {event.message}"
    return _end(replace(state, steps=steps), "failed", reason)


def _retry_due(state: RunState, event: RetryDue) -> tuple[RunState, list[Command]]:
    current = state.steps.get(event.step)
    if current is None or current.status != "retrying" or current.attempt + 1 != event.attempt:
        return state, []
    steps = dict(state.steps)
    steps[event.step] = replace(current, status="running", attempt=event.attempt)
    return replace(state, steps=steps), [Dispatch(event.step, event.attempt)]


def _end(state: RunState, status: RunStatus, reason: str) -> tuple[RunState, list[Command]]:
    steps = dict(state.steps)
    commands: list[Command] = []
    for step_id, step in state.steps.items():
        if step.status == "running":
            commands.append(Abort(step_id, step.attempt))
        if step.status in ("running", "retrying", "waiting"):
            steps[step_id] = replace(step, status="cancelled")
    commands.append(Finish(status, reason))
    return replace(state, status=status, steps=steps, reason=reason), commands
