"""Property tests of the run state machine over random DAGs and random outcome sequences."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from rainbow.engine import machine as m


@st.composite
def plans(draw: st.DrawFn) -> m.Plan:
    count = draw(st.integers(min_value=1, max_value=8))
    steps = []
    for index in range(count):
        upstream = draw(st.sets(st.integers(min_value=0, max_value=index - 1))) if index else set()
        steps.append(
            m.StepPlan(
                id=f"s{index}",
                upstream=tuple(f"s{u}" for u in sorted(upstream)),
                max_attempts=draw(st.integers(min_value=1, max_value=4)),
            )
        )
    return m.Plan(run_id="run", steps=tuple(steps))


@dataclass
class Driver:
    """Feeds events like an executor would, checking every invariant after each one."""

    plan: m.Plan
    state: m.RunState = field(init=False)
    in_flight: set[tuple[str, int]] = field(default_factory=set)
    timers: set[tuple[str, int]] = field(default_factory=set)
    delivered: list[m.Event] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    finishes: list[m.Finish] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = m.RunState.initial(self.plan)
        self.budget = {s.id: s.max_attempts for s in self.plan.steps}
        self.upstream = {s.id: s.upstream for s in self.plan.steps}

    def feed(self, event: m.Event) -> list[m.Command]:
        before = self.state
        self.state, commands = m.advance(self.plan, before, event)
        for command in commands:
            self.check(before, command)
        self.delivered.append(event)
        return commands

    def check(self, before: m.RunState, command: m.Command) -> None:
        if isinstance(command, m.Dispatch):
            for up in self.upstream[command.step]:
                assert self.state.steps[up].status == "succeeded", "dispatched before its inputs"
            first = self.state.steps[command.step].first_attempt
            used = command.attempt - first + 1
            assert used <= self.budget[command.step], "attempted beyond its policy"
            assert command.attempt == self.attempts.get(command.step, 0) + 1
            self.attempts[command.step] = command.attempt
            self.in_flight.add((command.step, command.attempt))
        elif isinstance(command, m.ScheduleRetry):
            assert command.delay >= 0
            self.in_flight.discard((command.step, command.attempt - 1))
            self.timers.add((command.step, command.attempt))
        elif isinstance(command, m.Abort):
            assert before.steps[command.step].status == "running"
            self.in_flight.discard((command.step, command.attempt))
        else:
            assert not self.finishes, "a run finishes once"
            self.finishes.append(command)


outcomes = st.sampled_from(["ok", "error", "permanent", "lost", "timeout"])


def result_event(step: str, attempt: int, outcome: str) -> m.Event:
    if outcome == "ok":
        return m.Succeeded(step, attempt, {"out": attempt})
    kind = {"error": "error", "permanent": "error", "lost": "worker_lost", "timeout": "timeout"}
    return m.Failed(step, attempt, kind[outcome], outcome, retryable=outcome != "permanent")  # type: ignore[arg-type]


def random_steps(driver: Driver, data: st.DataObject) -> Iterator[tuple[str, int]]:
    """Start the run, then deliver random results and due retries until it finishes (bounded)."""
    driver.feed(m.Start())
    yield from random_outcomes(driver, data)


def random_outcomes(driver: Driver, data: st.DataObject) -> Iterator[tuple[str, int]]:
    """Deliver a random pending result or due retry until the run finishes (bounded)."""
    for _ in range(sum(s.max_attempts for s in driver.plan.steps) * 3 + 5):
        if driver.finishes:
            return
        choices = sorted(driver.in_flight) + sorted(driver.timers)
        assert choices, "a running run always has something in flight or waiting"
        step, attempt = data.draw(st.sampled_from(choices))
        if (step, attempt) in driver.timers:
            driver.timers.discard((step, attempt))
            driver.feed(m.RetryDue(step, attempt))
        else:
            driver.in_flight.discard((step, attempt))
            driver.feed(result_event(step, attempt, data.draw(outcomes)))
        yield step, attempt


@settings(max_examples=300, deadline=None)
@given(plans(), st.data())
def test_every_run_terminates_within_its_budget(plan: m.Plan, data: st.DataObject) -> None:
    """Whatever the outcomes, a run ends in one Finish after at most sum(budget) dispatches."""
    driver = Driver(plan)
    for _ in random_steps(driver, data):
        pass
    assert driver.finishes, "the run did not terminate"
    final = driver.finishes[0].status
    assert final == driver.state.status
    if final == "succeeded":
        assert all(s.status == "succeeded" for s in driver.state.steps.values())
    else:
        assert all(
            s.status not in ("running", "retrying", "waiting") for s in driver.state.steps.values()
        )


@settings(max_examples=200, deadline=None)
@given(plans(), st.data())
def test_duplicated_and_late_events_change_nothing(plan: m.Plan, data: st.DataObject) -> None:
    """Replaying any already-delivered event, or one for a superseded attempt, is a no-op."""
    driver = Driver(plan)
    for step, attempt in random_steps(driver, data):
        replay = data.draw(st.sampled_from(driver.delivered))
        if isinstance(replay, m.Start | m.Succeeded | m.Failed | m.RetryDue):
            after, commands = m.advance(plan, driver.state, replay)
            assert after == driver.state
            assert commands == []
        stale = m.Succeeded(step, attempt - 1, {}) if attempt > 1 else None
        if stale is not None:
            assert m.advance(plan, driver.state, stale) == (driver.state, [])


@settings(max_examples=100, deadline=None)
@given(plans(), st.sampled_from([m.DeadlineExceeded(), m.Cancel("stop"), m.Halt("unstorable")]))
def test_deadline_cancel_and_halt_abort_what_runs(plan: m.Plan, stop: m.Event) -> None:
    """A deadline, cancel or halt ends a running run once, aborting exactly its running
    attempts."""
    driver = Driver(plan)
    driver.feed(m.Start())
    running = {(sid, s.attempt) for sid, s in driver.state.steps.items() if s.status == "running"}
    commands = driver.feed(stop)
    aborted = {(c.step, c.attempt) for c in commands if isinstance(c, m.Abort)}
    assert aborted == running
    expected = {m.DeadlineExceeded: "timed_out", m.Cancel: "cancelled", m.Halt: "failed"}
    assert driver.state.status == expected[type(stop)]
    assert m.advance(plan, driver.state, stop) == (driver.state, [])


def test_retry_delay_grows_exponentially_with_bounded_jitter() -> None:
    """Retry delays lie within [half, full] of base * 2**(attempt-1), capped at max_delay."""
    policy = m.RetryPolicy(base_delay=1.0, max_delay=10.0)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delay = policy.delay("run", "step", attempt)
        assert full / 2 <= delay <= full
    assert policy.delay("run", "step", 2) == policy.delay("run", "step", 2)


def test_module_requested_delay_wins_over_backoff() -> None:
    """A module's rb.Retry(delay=...) sets the retry delay instead of the backoff."""
    plan = m.Plan("r", (m.StepPlan("a", (), 3),))
    state, _ = m.advance(plan, m.RunState.initial(plan), m.Start())
    _, commands = m.advance(plan, state, m.Failed("a", 1, "error", "busy", delay=7.5))
    assert commands == [m.ScheduleRetry("a", 2, 7.5)]


def test_permanent_failure_fails_the_run_without_retrying() -> None:
    """A non-retryable failure fails the run at once even with retries left."""
    plan = m.Plan("r", (m.StepPlan("a", (), 5), m.StepPlan("b", ("a",), 1)))
    state, _ = m.advance(plan, m.RunState.initial(plan), m.Start())
    state, commands = m.advance(
        plan, state, m.Failed("a", 1, "error", "bad input", retryable=False)
    )
    assert state.status == "failed"
    assert commands[-1] == m.Finish("failed", "step 'a' failed after 1 attempt: bad input")
    assert state.steps["b"].status == "cancelled"


@settings(max_examples=200, deadline=None)
@given(plans(), st.data())
def test_a_resumed_run_reruns_only_what_did_not_succeed(plan: m.Plan, data: st.DataObject) -> None:
    """Resuming a failed run keeps succeeded steps, gives the others a fresh budget, and ends."""
    driver = Driver(plan)
    for _ in random_steps(driver, data):
        pass
    if driver.state.status == "succeeded":
        assert m.advance(plan, driver.state, m.Resume()) == (driver.state, [])
        return
    succeeded = {sid for sid, s in driver.state.steps.items() if s.status == "succeeded"}
    driver.finishes.clear()
    commands = driver.feed(m.Resume())
    assert driver.state.status == "running" and driver.state.reason is None
    assert not {c.step for c in commands if isinstance(c, m.Dispatch)} & succeeded
    for _ in random_outcomes(driver, data):
        pass
    assert driver.finishes, "the resumed run did not terminate"
    assert all(driver.state.steps[sid].status == "succeeded" for sid in succeeded)


def test_a_halted_pending_run_fails_and_never_starts() -> None:
    """An executor that cannot record a pending run fails it; a later Start changes nothing."""
    plan = m.Plan("r", (m.StepPlan("a", (), 1),))
    state, commands = m.advance(plan, m.RunState.initial(plan), m.Halt("refused"))
    assert state.status == "failed" and commands == [m.Finish("failed", "refused")]
    assert m.advance(plan, state, m.Start()) == (state, [])


def test_a_pending_run_can_be_cancelled_before_it_starts() -> None:
    """Cancelling a run that never started ends it; a later Start changes nothing."""
    plan = m.Plan("r", (m.StepPlan("a", (), 1),))
    state, commands = m.advance(plan, m.RunState.initial(plan), m.Cancel("operator"))
    assert state.status == "cancelled" and commands == [m.Finish("cancelled", "operator")]
    assert m.advance(plan, state, m.Start()) == (state, [])
