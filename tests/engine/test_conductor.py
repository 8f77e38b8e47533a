"""The conductor over an in-memory ledger and broker: events in, decisions durable, tasks out."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rainbow.dsl.compiler import compile_pipeline
from rainbow.dsl.pipeline import PipelineDef
from rainbow.engine import wire
from rainbow.engine.conductor import Conductor
from rainbow.engine.ledger import Ledger, MemoryLedger, OutboxMessage
from rainbow.engine.machine import RetryPolicy
from rainbow.engine.naming import queue_name
from rainbow.engine.submission import new_runs
from rainbow.engine.workunits import WorkUnit
from rainbow.errors import PlatformError
from rainbow.sdk.catalog import modules_in
from rainbow.sdk.invoke import WorkerEnv, invoke

from . import modules_for_tests as fixtures

MODULES = modules_in(vars(fixtures), depth=0)


class WireConductor(Conductor):
    """Takes events as the JSON objects that travel, parsed as the conductor's service does."""

    def handle_many(self, events: Sequence[Any]) -> None:
        super().handle_many([wire.parse({"v": wire.SCHEMA, **e}) for e in events])


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class MemoryBroker:
    """Queues as lists; the twin of the RabbitMQ publisher."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[dict[str, Any]]] = {}
        self.revoked: list[str] = []
        self.fail_next = False

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("broker unreachable")
        for message in messages:
            self.queues.setdefault(message.queue, deque()).append(dict(message.body))

    def revoke(self, attempt_ids: Sequence[str]) -> None:
        self.revoked.extend(attempt_ids)

    def take(self) -> tuple[str, dict[str, Any]] | None:
        for queue, messages in self.queues.items():
            if messages:
                return queue, messages.popleft()
        return None


DATABASE_FIXTURES = {"sqlite": "sqlite_database", "postgresql": "postgres_database"}


@pytest.fixture(params=["memory", *DATABASE_FIXTURES])
def ledger(request: pytest.FixtureRequest) -> Ledger:
    if request.param == "memory":
        return MemoryLedger()
    alias = request.getfixturevalue(DATABASE_FIXTURES[request.param])
    # Importable once Django is configured.
    from rainbow.control.persistence.ledger import DjangoLedger

    return DjangoLedger(using=alias)


@pytest.fixture
def world(
    tmp_path: Path, ledger: Ledger
) -> tuple[Conductor, Ledger, MemoryBroker, Clock, WorkerEnv]:
    clock = Clock()
    broker = MemoryBroker()
    conductor = WireConductor(ledger, broker, retry=RetryPolicy(0.5, 2.0), clock=clock)
    env = WorkerEnv(assets_url=str(tmp_path / "assets"), work_root=tmp_path / "work")
    return conductor, ledger, broker, clock, env


def submit(ledger: Ledger, pipeline: PipelineDef, *inputs: dict[str, Any]) -> list[str]:
    spec, _ = compile_pipeline(pipeline)
    records = new_runs(spec, [WorkUnit(f"u{i}", x) for i, x in enumerate(inputs)], engine="test")
    ledger.write(records)
    return [r.run_id for r in records]


def work(conductor: Conductor, broker: MemoryBroker, env: WorkerEnv, limit: int = 100) -> int:
    """Play every worker: take tasks, run them, send 'started' and 'result' events."""
    handled = 0
    while (taken := broker.take()) is not None and handled < limit:
        _, task = taken
        conductor.handle({"type": "started", **{k: task[k] for k in ("run_id", "step", "attempt")}})
        conductor.handle({"type": "result", "result": invoke(MODULES[task["module"]], task, env)})  # type: ignore[arg-type]
        handled += 1
    return handled


def test_a_run_flows_from_start_to_finish_through_instance_queues(world: Any) -> None:
    """Start → tasks on rainbow.<module>.<version> → results → the run succeeds with outputs."""
    conductor, ledger, broker, _, env = world
    (run_id,) = submit(ledger, fixtures.diamond, {"x": 1})
    conductor.handle({"type": "start", "run_id": run_id})
    assert list(broker.queues) == [queue_name("add", "latest")]
    assert work(conductor, broker, env) == 6
    detail = ledger.get_run(run_id)
    assert detail.summary.status == "succeeded"
    assert detail.outputs == {"result": 11}
    assert all(len(s.attempts) == 1 for s in detail.steps)


def test_replayed_events_change_nothing(world: Any) -> None:
    """Delivering every event twice gives the same records as delivering it once."""
    conductor, ledger, broker, _, env = world
    (run_id,) = submit(ledger, fixtures.diamond, {"x": 2})
    conductor.handle({"type": "start", "run_id": run_id})
    conductor.handle({"type": "start", "run_id": run_id})
    while (taken := broker.take()) is not None:
        _, task = taken
        started = {"type": "started", **{k: task[k] for k in ("run_id", "step", "attempt")}}
        result = {"type": "result", "result": invoke(MODULES[task["module"]], task, env)}
        for event in (started, result, started, result):
            conductor.handle(event)
    detail = ledger.get_run(run_id)
    assert detail.summary.status == "succeeded"
    assert [len(s.attempts) for s in detail.steps] == [1] * 6


def test_a_short_attempt_is_recorded_from_its_result_alone(world: Any) -> None:
    """Workers announce only long attempts; a result says when and where its attempt started."""
    conductor, ledger, broker, clock, env = world
    (run_id,) = submit(ledger, fixtures.diamond, {"x": 3})
    conductor.handle({"type": "start", "run_id": run_id})
    began = clock.now - timedelta(seconds=2)
    while (taken := broker.take()) is not None:
        _, task = taken
        result = invoke(MODULES[task["module"]], task, env)  # type: ignore[arg-type]
        conductor.handle(
            {
                "type": "result",
                "result": result,
                "started_at": began.timestamp(),
                "worker": "host-a:41",
            }
        )
    detail = ledger.get_run(run_id)
    assert detail.summary.status == "succeeded"
    attempts = [a for s in detail.steps for a in s.attempts]
    assert len(attempts) == 6
    assert {a.worker for a in attempts} == {"host-a:41"}
    assert [a.started_at.timestamp() for a in attempts] == [pytest.approx(began.timestamp())] * 6


def test_retries_wait_on_durable_timers(world: Any) -> None:
    """A failed attempt is retried only when its timer is due, then the run succeeds."""
    conductor, ledger, broker, clock, env = world
    (run_id,) = submit(ledger, fixtures.flaky_chain, {"x": 3})
    conductor.handle({"type": "start", "run_id": run_id})
    work(conductor, broker, env)
    assert broker.take() is None, "the retry must wait for its timer"
    for _ in range(4):
        clock.now += timedelta(seconds=5)
        conductor.tick()
        work(conductor, broker, env)
    detail = ledger.get_run(run_id)
    assert detail.summary.status == "succeeded"
    assert [a.status for a in detail.steps[0].attempts] == ["failed", "failed", "succeeded"]


def test_messages_a_crash_left_in_the_outbox_are_published_by_the_sweep(world: Any) -> None:
    """If publishing fails after commit, the tick republishes the stored task later."""
    conductor, ledger, broker, clock, env = world
    (run_id,) = submit(ledger, fixtures.diamond, {"x": 1})
    broker.fail_next = True
    with pytest.raises(ConnectionError):
        conductor.handle({"type": "start", "run_id": run_id})
    assert broker.take() is None
    clock.now += timedelta(seconds=11)
    conductor.tick()
    work(conductor, broker, env)
    assert ledger.get_run(run_id).summary.status == "succeeded"


def test_a_lost_start_event_is_recovered_by_the_sweep(world: Any) -> None:
    """A pending run nobody started is started by a later tick."""
    conductor, ledger, broker, clock, env = world
    (run_id,) = submit(ledger, fixtures.diamond, {"x": 1})
    clock.now += timedelta(seconds=11)
    conductor.tick()
    work(conductor, broker, env)
    assert ledger.get_run(run_id).summary.status == "succeeded"


def test_a_poison_message_fails_its_step_with_the_brokers_reason(world: Any) -> None:
    """A dead-lettered task fails its step at once with the reason, without retries."""
    conductor, ledger, broker, _, _ = world
    (run_id,) = submit(ledger, fixtures.crashes, {"how": "kill"})
    conductor.handle({"type": "start", "run_id": run_id})
    _, task = broker.take()
    key = {k: task[k] for k in ("run_id", "step", "attempt")}
    conductor.handle({"type": "started", **key})
    conductor.handle({"type": "worker_lost", **key, "signal": 9})
    assert ledger.get_run(run_id).summary.status == "running", "the broker delivers it again"
    conductor.handle({"type": "lost", **key, "reason": "worker lost 5 times"})
    detail = ledger.get_run(run_id)
    assert detail.summary.status == "failed"
    assert "worker lost 5 times (signal 9)" in detail.summary.reason
    (attempt,) = detail.steps[0].attempts
    assert (attempt.status, attempt.exit_signal) == ("worker_lost", 9)


def test_deadline_timer_times_the_run_out_and_revokes_what_runs(world: Any) -> None:
    """A run past its deadline is timed out and its in-flight attempt revoked."""
    conductor, ledger, broker, clock, _ = world
    (run_id,) = submit(ledger, fixtures.deadline, {"seconds": 10})
    conductor.handle({"type": "start", "run_id": run_id})
    _, task = broker.take()
    conductor.handle({"type": "started", "run_id": run_id, "step": task["step"], "attempt": 1})
    clock.now += timedelta(seconds=1)
    conductor.tick()
    assert ledger.get_run(run_id).summary.status == "timed_out"
    assert broker.revoked == [f"{run_id}:sleepy:1"]


def test_the_watchdog_fails_an_attempt_whose_result_never_comes(world: Any) -> None:
    """A started attempt with no result past its timeout is failed and retried."""
    conductor, ledger, broker, clock, _ = world
    (run_id,) = submit(ledger, fixtures.sleepy_pipeline, {"seconds": 1})
    conductor.handle({"type": "start", "run_id": run_id})
    assert broker.take() is not None
    conductor.handle({"type": "started", "run_id": run_id, "step": "sleepy", "attempt": 1})
    clock.now += timedelta(seconds=31)
    conductor.tick()
    attempt = ledger.get_run(run_id).steps[0].attempts[0]
    assert attempt.status == "timed_out" and "no result" in attempt.error_message
    clock.now += timedelta(seconds=5)
    conductor.tick()
    assert broker.take()[1]["attempt"] == 2


def test_events_for_an_unknown_run_are_ignored(world: Any) -> None:
    """An event about a run the ledger does not hold changes nothing."""
    conductor, ledger, _, _, _ = world
    conductor.handle({"type": "start", "run_id": "nope"})
    assert ledger.list_runs() == []


def test_retry_resumes_a_failed_run_from_its_failed_steps(world: Any) -> None:
    """After a permanent failure, a retry event reruns the failed step with a fresh budget,
    keeps what succeeded, and every attempt stays recorded."""
    conductor, ledger, broker, clock, env = world
    (run_id,) = submit(ledger, fixtures.flaky_chain, {"x": 3})
    conductor.handle({"type": "start", "run_id": run_id})
    _, task = broker.take()
    error = {"type": "PermanentError", "message": "bad", "traceback": None, "retryable": False}
    failure = {
        **{k: task[k] for k in ("run_id", "step", "attempt")},
        "status": "failed",
        "outputs": None,
        "metrics": [],
        "timings": {},
        "duration_s": 0.1,
        "error": {**error, "delay": None},
    }
    conductor.handle({"type": "result", "result": failure})
    assert ledger.get_run(run_id).summary.status == "failed"
    conductor.handle({"type": "retry", "run_id": run_id})
    resumed = ledger.get_run(run_id).summary
    assert (resumed.status, resumed.finished_at, resumed.reason) == ("running", None, None)
    for _ in range(4):
        work(conductor, broker, env)
        clock.now += timedelta(seconds=5)
        conductor.tick()
    detail = ledger.get_run(run_id)
    assert detail.summary.status == "succeeded", detail.summary.reason
    # Attempt numbers go on after the resume (flaky fails while ctx.attempt <= 2).
    assert [(a.attempt, a.status) for a in detail.steps[0].attempts] == [
        (1, "failed"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    assert detail.outputs == {"result": 4}


def test_retry_of_a_succeeded_run_changes_nothing(world: Any) -> None:
    """Only failed, timed-out or cancelled runs resume."""
    conductor, ledger, broker, _, env = world
    (run_id,) = submit(ledger, fixtures.diamond, {"x": 1})
    conductor.handle({"type": "start", "run_id": run_id})
    work(conductor, broker, env)
    conductor.handle({"type": "retry", "run_id": run_id})
    assert broker.take() is None
    assert ledger.get_run(run_id).summary.status == "succeeded"


def test_a_timer_survives_a_decision_that_fails(world: Any) -> None:
    """A due timer is deleted only with the decision it causes: a failed decision keeps it."""
    conductor, ledger, broker, clock, env = world
    (run_id,) = submit(ledger, fixtures.flaky_chain, {"x": 3})
    conductor.handle({"type": "start", "run_id": run_id})
    work(conductor, broker, env, limit=1)  # attempt 1 fails: a retry timer is stored
    clock.now += timedelta(seconds=5)
    original = ledger.write

    def broken(changes: Any) -> None:
        raise PlatformError("database went away")  # what both stores raise when it does

    ledger.write = broken  # type: ignore[method-assign]
    with pytest.raises(PlatformError):
        conductor.tick()
    ledger.write = original  # type: ignore[method-assign]
    conductor.tick()
    assert broker.take()[1]["attempt"] == 2, "the retry was not lost"


def test_a_redelivered_attempt_gets_a_new_watchdog(world: Any) -> None:
    """After a lost worker and a redelivery, the first delivery's watchdog no longer fires."""
    conductor, ledger, _broker, clock, _ = world
    (run_id,) = submit(ledger, fixtures.sleepy_pipeline, {"seconds": 1})
    conductor.handle({"type": "start", "run_id": run_id})
    key = {"run_id": run_id, "step": "sleepy", "attempt": 1}
    conductor.handle({"type": "started", **key})
    conductor.handle({"type": "worker_lost", **key, "signal": 9})
    clock.now += timedelta(seconds=20)
    conductor.handle({"type": "started", **key})
    clock.now += timedelta(seconds=20)  # past the first watchdog, before the second
    conductor.tick()
    attempt = ledger.get_run(run_id).steps[0].attempts[0]
    assert attempt.status == "running"


def test_a_resumed_run_is_not_timed_out_by_its_old_deadline(world: Any) -> None:
    """Resuming gives a run a new deadline; the old one is gone."""
    conductor, ledger, _broker, clock, _ = world
    (run_id,) = submit(ledger, fixtures.deadline, {"seconds": 10})  # 0.5 s deadline
    conductor.handle({"type": "start", "run_id": run_id})
    conductor.handle({"type": "cancel", "run_id": run_id, "reason": "operator"})
    clock.now += timedelta(seconds=0.3)
    conductor.handle({"type": "retry", "run_id": run_id})
    clock.now += timedelta(seconds=0.3)  # past the first deadline only
    conductor.tick()
    assert ledger.get_run(run_id).summary.status == "running"
    clock.now += timedelta(seconds=1)
    conductor.tick()
    assert ledger.get_run(run_id).summary.status == "timed_out"


def test_an_attempt_started_and_aborted_in_one_batch_is_recorded_aborted(world: Any) -> None:
    """A cancel in the same batch as a start records that attempt as aborted."""
    conductor, ledger, _broker, _, _ = world
    (run_id,) = submit(ledger, fixtures.sleepy_pipeline, {"seconds": 1})
    conductor.handle({"type": "start", "run_id": run_id})
    conductor.handle_many(
        [
            {"type": "started", "run_id": run_id, "step": "sleepy", "attempt": 1},
            {"type": "cancel", "run_id": run_id, "reason": "operator"},
        ]
    )
    (attempt,) = ledger.get_run(run_id).steps[0].attempts
    assert attempt.status == "aborted"


def test_workers_not_heard_from_for_long_are_forgotten(world: Any) -> None:
    conductor, ledger, _, clock, _ = world
    for worker, age in [("old:1", timedelta(days=2)), ("new:2", timedelta(seconds=5))]:
        clock.now = datetime.now(UTC) - age
        conductor.handle({"type": "instance", "module": "add", "version": "1.1", "worker": worker})
    assert ledger.prune_instances(datetime.now(UTC) - timedelta(days=1)) == 1
    assert [i.worker for i in ledger.instances()] == ["new:2"]


def test_a_task_that_ran_again_after_its_attempt_ended_is_on_record(world: Any) -> None:
    """At-least-once delivery: the second run of a task (its worker died before the ack) keeps
    the first outcome but raises the attempt's delivery count; replaying that event, or an
    older delivery's, changes nothing more."""
    conductor, ledger, broker, _, env = world
    (run_id,) = submit(ledger, fixtures.single, {"x": 3})
    conductor.handle({"type": "start", "run_id": run_id})
    _, task = broker.take()
    result = invoke(MODULES[task["module"]], task, env)  # type: ignore[arg-type]
    conductor.handle({"type": "result", "result": result, "worker": "host-a:1"})
    again = {**result, "outputs": {"value": 99, "started": 0.0, "finished": 0.0}}
    for delivery in (2, 2, 1):
        event = {"type": "result", "result": again, "worker": "host-b:2", "delivery": delivery}
        conductor.handle(event)
    detail = ledger.get_run(run_id)
    (attempt,) = detail.steps[0].attempts
    assert (attempt.deliveries, attempt.worker, attempt.status) == (2, "host-a:1", "succeeded")
    assert detail.outputs == {"result": 4}


def test_a_result_from_a_second_delivery_records_both(world: Any) -> None:
    """The first word of an attempt may come from its second delivery (the first died within
    a second, before saying it started): the attempt is recorded delivered twice."""
    conductor, ledger, broker, _, env = world
    (run_id,) = submit(ledger, fixtures.single, {"x": 3})
    conductor.handle({"type": "start", "run_id": run_id})
    _, task = broker.take()
    result = invoke(MODULES[task["module"]], task, env)  # type: ignore[arg-type]
    conductor.handle({"type": "result", "result": result, "worker": "host-b:2", "delivery": 2})
    (attempt,) = ledger.get_run(run_id).steps[0].attempts
    assert (attempt.deliveries, attempt.status) == (2, "succeeded")


def test_a_run_whose_decision_fails_is_failed_and_other_timers_go_on(world: Any) -> None:
    """A stored spec whose timeout no clock can add (a hand-edited or old row) breaks the start
    decision of its run: the sweep fails that run, saying why, and starts the others."""
    from dataclasses import replace

    conductor, ledger, broker, clock, _ = world
    spec, _ = compile_pipeline(fixtures.single)
    bad, good = new_runs(
        spec, [WorkUnit("bad", {"x": 1}), WorkUnit("good", {"x": 2})], engine="test"
    )
    edited = {**bad.spec, "timeout": 1e300, "spec_hash": "sha256:edited"}
    ledger.write([replace(bad, spec=edited, spec_hash="sha256:edited"), good])
    clock.now += timedelta(seconds=30)  # both look like runs whose start event was lost
    conductor.tick()
    failed = ledger.get_run(bad.run_id).summary
    assert failed.status == "failed" and "could not decide" in (failed.reason or "")
    assert ledger.get_run(good.run_id).summary.status == "running"
    assert broker.take() is not None
