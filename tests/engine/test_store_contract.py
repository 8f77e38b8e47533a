"""The store contract: every Store implementation records and reads runs the same way.

Each test runs against ``MemoryStore`` and ``DjangoStore`` on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from rainbow.engine.records import (
    AttemptFinished,
    AttemptStarted,
    AttemptView,
    Change,
    MetricValue,
    RunChanged,
    RunCreated,
    RunDetail,
    RunSummary,
    StepChanged,
    StepView,
)
from rainbow.engine.store import MemoryStore, Store
from rainbow.errors import PlatformError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SPEC = {
    "schema": 1,
    "name": "room-scan",
    "spec_hash": "sha256:abc",
    "steps": [{"id": "normalize"}, {"id": "segment"}, {"id": "measure"}],
}
# Spec order on purpose differs from alphabetical order.
STEPS = ("normalize", "segment", "measure")


DATABASE_FIXTURES = {"sqlite": "sqlite_database", "postgresql": "postgres_database"}


@pytest.fixture(params=["memory", *DATABASE_FIXTURES])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":
        return MemoryStore()
    alias = request.getfixturevalue(DATABASE_FIXTURES[request.param])
    # Importable once Django is configured.
    from rainbow.control.persistence.store import DjangoStore

    return DjangoStore(using=alias)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def created(run_id: str = "r1", *, created_at: datetime = T0) -> RunCreated:
    return RunCreated(
        run_id=run_id,
        pipeline="room-scan",
        spec_hash="sha256:abc",
        spec=SPEC,
        inputs={"photo": "file:///units/kitchen.jpg", "threshold": 0.5},
        unit="kitchen.json",
        engine="local",
        created_at=created_at,
        step_ids=STEPS,
    )


def started(step: str, attempt: int, at_s: float, run_id: str = "r1") -> AttemptStarted:
    return AttemptStarted(run_id, step, attempt, module=step, version="1.2", started_at=at(at_s))


def succeeded(
    step: str,
    attempt: int,
    at_s: float,
    *,
    metrics: Sequence[MetricValue] = (),
    run_id: str = "r1",
) -> AttemptFinished:
    return AttemptFinished(
        run_id,
        step,
        attempt,
        status="succeeded",
        finished_at=at(at_s),
        duration_s=1.0,
        metrics=metrics,
    )


def running_view(step: str, attempt: int, at_s: float) -> AttemptView:
    return AttemptView(
        attempt=attempt,
        status="running",
        module=step,
        version="1.2",
        started_at=at(at_s),
        finished_at=None,
        duration_s=None,
        error_type=None,
        error_message=None,
        traceback=None,
        exit_signal=None,
        metrics=(),
        timings={},
    )


def succeeded_view(
    step: str, attempt: int, at_s: float, *, metrics: Sequence[MetricValue] = ()
) -> AttemptView:
    return AttemptView(
        attempt=attempt,
        status="succeeded",
        module=step,
        version="1.2",
        started_at=at(at_s - 1),
        finished_at=at(at_s),
        duration_s=1.0,
        error_type=None,
        error_message=None,
        traceback=None,
        exit_signal=None,
        metrics=tuple(metrics),
        timings={},
    )


def summary(run_id: str = "r1", **fields: object) -> RunSummary:
    values: dict[str, object] = {
        "run_id": run_id,
        "pipeline": "room-scan",
        "spec_hash": "sha256:abc",
        "unit": "kitchen.json",
        "engine": "local",
        "status": "pending",
        "created_at": T0,
        "started_at": None,
        "finished_at": None,
        "reason": None,
        "metrics": (),
    }
    values.update(fields)
    return RunSummary(**values)  # type: ignore[arg-type]


def write_each(store: Store, *batches: Sequence[Change]) -> None:
    for batch in batches:
        store.write(batch)


# Reading back ---------------------------------------------------------------------------------


def test_get_run_of_an_unknown_id_is_none(store: Store) -> None:
    """get_run returns None for a run id the store has never seen."""
    assert store.get_run("no-such-run") is None


def test_a_created_run_reads_back_pending_with_its_steps_waiting_in_spec_order(
    store: Store,
) -> None:
    """A new run is pending, with every step waiting and unattempted, in the spec's order."""
    store.write([created()])

    assert store.get_run("r1") == RunDetail(
        summary=summary(),
        inputs={"photo": "file:///units/kitchen.jpg", "threshold": 0.5},
        outputs=None,
        spec=SPEC,
        steps=[StepView(step, "waiting", [], None) for step in STEPS],
    )


def test_a_whole_run_round_trips_with_errors_metrics_and_timings(store: Store) -> None:
    """Everything written over several batches reads back: attempts, errors, metrics, timings."""
    crash = AttemptFinished(
        "r1",
        "segment",
        1,
        status="worker_lost",
        finished_at=at(4),
        duration_s=2.0,
        error_type="WorkerLost",
        error_message="the worker died",
        traceback="Traceback (most recent call last):\n  ...\nWorkerLost",
        exit_signal=9,
        timings={"load": 0.25},
    )
    second_try = AttemptFinished(
        "r1",
        "segment",
        2,
        status="succeeded",
        finished_at=at(7),
        duration_s=2.0,
        metrics=[
            MetricValue("iou", 0.91, "high", "segment", tolerance_absolute=0.01),
            MetricValue("holes", 3.0, "low", "segment"),
            MetricValue("infer_ms", 12.5, "low", "segment", "timing", None, 0.1),
        ],
        timings={"load": 0.5, "infer": 1.25},
    )
    write_each(
        store,
        [created(), RunChanged("r1", "running", at(1))],
        [StepChanged("r1", "normalize", "running", 1), started("normalize", 1, 1)],
        [
            succeeded("normalize", 1, 2),
            StepChanged("r1", "normalize", "succeeded", 1, {"image": "file:///assets/n.png"}),
            StepChanged("r1", "segment", "running", 1),
            started("segment", 1, 2),
        ],
        [crash, StepChanged("r1", "segment", "retrying", 1)],
        [StepChanged("r1", "segment", "running", 2), started("segment", 2, 5)],
        [second_try, StepChanged("r1", "segment", "succeeded", 2, {"mask": "m.png"})],
        [StepChanged("r1", "measure", "cancelled", 0)],
        [RunChanged("r1", "failed", at(8), reason="measure: cancelled", outputs={"area": 1.5})],
    )

    crash_view = AttemptView(
        attempt=1,
        status="worker_lost",
        module="segment",
        version="1.2",
        started_at=at(2),
        finished_at=at(4),
        duration_s=2.0,
        error_type="WorkerLost",
        error_message="the worker died",
        traceback="Traceback (most recent call last):\n  ...\nWorkerLost",
        exit_signal=9,
        metrics=(),
        timings={"load": 0.25},
    )
    second_view = AttemptView(
        attempt=2,
        status="succeeded",
        module="segment",
        version="1.2",
        started_at=at(5),
        finished_at=at(7),
        duration_s=2.0,
        error_type=None,
        error_message=None,
        traceback=None,
        exit_signal=None,
        metrics=(
            MetricValue("iou", 0.91, "high", "segment", tolerance_absolute=0.01),
            MetricValue("holes", 3.0, "low", "segment"),
            MetricValue("infer_ms", 12.5, "low", "segment", "timing", None, 0.1),
        ),
        timings={"load": 0.5, "infer": 1.25},
    )
    assert store.get_run("r1") == RunDetail(
        summary=summary(
            status="failed",
            started_at=at(1),
            finished_at=at(8),
            reason="measure: cancelled",
            metrics=second_view.metrics,
        ),
        inputs={"photo": "file:///units/kitchen.jpg", "threshold": 0.5},
        outputs={"area": 1.5},
        spec=SPEC,
        steps=[
            StepView(
                "normalize",
                "succeeded",
                [succeeded_view("normalize", 1, 2)],
                {"image": "file:///assets/n.png"},
            ),
            StepView("segment", "succeeded", [crash_view, second_view], {"mask": "m.png"}),
            StepView("measure", "cancelled", [], None),
        ],
    )


def test_an_attempt_started_and_finished_in_one_write_is_recorded_finished(store: Store) -> None:
    """An attempt that starts and finishes within one write reads back finished, with metrics."""
    iou = MetricValue("iou", 0.5, "high", "normalize")
    store.write(
        [
            created(),
            StepChanged("r1", "normalize", "running", 1),
            started("normalize", 1, 1),
            succeeded("normalize", 1, 2, metrics=[iou]),
            StepChanged("r1", "normalize", "succeeded", 1, {"out": 1}),
        ]
    )

    run = store.get_run("r1")
    assert run is not None
    assert run.steps[0] == StepView(
        "normalize", "succeeded", [succeeded_view("normalize", 1, 2, metrics=[iou])], {"out": 1}
    )


def test_an_unfinished_attempt_reads_back_running(store: Store) -> None:
    """A started attempt without a finish is running, with no end, error or metrics yet."""
    write_each(store, [created()], [started("normalize", 1, 1)])

    run = store.get_run("r1")
    assert run is not None
    assert run.steps[0].attempts == [running_view("normalize", 1, 1)]


def test_the_last_of_several_changes_in_one_write_wins(store: Store) -> None:
    """Changes to one step or run within a write apply in order, as if written one by one."""
    store.write(
        [
            created(),
            RunChanged("r1", "running", at(1), reason="first"),
            StepChanged("r1", "segment", "running", 1, {"partial": True}),
            started("segment", 1, 1),
            StepChanged("r1", "segment", "retrying", 1),
            RunChanged("r1", "running", at(2)),
        ]
    )

    run = store.get_run("r1")
    assert run is not None
    assert run.summary == summary(status="running", started_at=at(1))
    assert run.steps[1] == StepView("segment", "retrying", [running_view("segment", 1, 1)], None)


def test_starting_an_attempt_again_replaces_it(store: Store) -> None:
    """A second AttemptStarted for the same attempt resets it: no finish, no metrics."""
    iou = MetricValue("iou", 0.5, "high", "normalize")
    write_each(
        store,
        [created(), started("normalize", 1, 1), succeeded("normalize", 1, 2, metrics=[iou])],
        [StepChanged("r1", "normalize", "running", 1), started("normalize", 1, 3)],
    )

    run = store.get_run("r1")
    assert run is not None
    assert run.steps[0].attempts == [running_view("normalize", 1, 3)]
    assert run.summary.metrics == ()


# Timestamps -----------------------------------------------------------------------------------


def test_started_at_is_the_first_running_and_finished_at_the_final_status(store: Store) -> None:
    """started_at is when the run first went running; finished_at when it reached an end."""
    write_each(
        store,
        [created()],
        [RunChanged("r1", "running", at(1))],
        [RunChanged("r1", "running", at(5))],
        [RunChanged("r1", "succeeded", at(9), outputs={"area": 2.0})],
    )

    run = store.get_run("r1")
    assert run is not None
    assert run.summary.started_at == at(1)
    assert run.summary.finished_at == at(9)
    assert run.summary.duration_s == 8.0
    assert run.outputs == {"area": 2.0}


def test_a_run_changed_without_outputs_keeps_the_earlier_outputs(store: Store) -> None:
    """RunChanged with outputs=None leaves the run's outputs alone but replaces its reason."""
    write_each(
        store,
        [created(), RunChanged("r1", "failed", at(1), reason="boom", outputs={"a": 1})],
        [RunChanged("r1", "cancelled", at(2))],
    )

    run = store.get_run("r1")
    assert run is not None
    assert (run.outputs, run.summary.reason, run.summary.finished_at) == ({"a": 1}, None, at(2))


def test_timestamps_read_back_as_the_same_timezone_aware_instants(store: Store) -> None:
    """A timestamp written in any timezone reads back aware and equal to the written instant."""
    paris = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    write_each(store, [created(created_at=paris)], [started("normalize", 1, 1)])

    run = store.get_run("r1")
    assert run is not None
    assert run.summary.created_at == paris
    assert run.summary.created_at.utcoffset() is not None
    assert run.steps[0].attempts[0].started_at == at(1)


# Listing --------------------------------------------------------------------------------------


def test_list_runs_is_newest_first_and_honours_the_limit(store: Store) -> None:
    """list_runs returns the most recently created runs first, at most ``limit`` of them."""
    store.write([created(f"r{i}", created_at=at(i)) for i in (3, 0, 4, 1, 2)])

    assert [s.run_id for s in store.list_runs(limit=3)] == ["r4", "r3", "r2"]
    assert [s.run_id for s in store.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]


def test_list_runs_orders_runs_created_at_the_same_instant_by_run_id(store: Store) -> None:
    """Runs created at the same instant list by descending run id, so pages are stable."""
    store.write([created(run_id) for run_id in ("b", "c", "a")])

    assert [s.run_id for s in store.list_runs()] == ["c", "b", "a"]


def test_list_runs_filters_by_status(store: Store) -> None:
    """With ``status``, list_runs returns only the runs currently in that status."""
    store.write(
        [
            created("done", created_at=at(0)),
            created("busy", created_at=at(1)),
            created("also-done", created_at=at(2)),
            RunChanged("done", "succeeded", at(3)),
            RunChanged("busy", "running", at(3)),
            RunChanged("also-done", "succeeded", at(4)),
        ]
    )

    assert [s.run_id for s in store.list_runs(status="succeeded")] == ["also-done", "done"]
    assert [s.run_id for s in store.list_runs(status="running")] == ["busy"]
    assert store.list_runs(status="timed_out") == []


def test_summary_metrics_are_those_of_each_steps_last_attempt_in_spec_order(
    store: Store,
) -> None:
    """A summary's metrics are those of the last attempt of each step, steps in spec order."""
    first = MetricValue("iou", 0.2, "high", "segment")
    retried = MetricValue("iou", 0.9, "high", "segment")
    measured = MetricValue("area", 4.0, "low", "measure")
    normalized = MetricValue("contrast", 1.0, "high", "normalize")
    write_each(
        store,
        [created()],
        # Written in an order unlike the spec's, to show that the spec decides.
        [started("measure", 1, 1), succeeded("measure", 1, 2, metrics=[measured])],
        [started("segment", 1, 1), succeeded("segment", 1, 2, metrics=[first])],
        [started("segment", 2, 3), succeeded("segment", 2, 4, metrics=[retried])],
        [started("normalize", 1, 1), succeeded("normalize", 1, 2, metrics=[normalized])],
        [
            StepChanged("r1", "measure", "succeeded", 1),
            StepChanged("r1", "segment", "succeeded", 2),
            StepChanged("r1", "normalize", "succeeded", 1),
        ],
    )

    run = store.get_run("r1")
    assert run is not None
    assert run.summary.metrics == (normalized, retried, measured)
    assert store.list_runs()[0].metrics == (normalized, retried, measured)


# Atomicity ------------------------------------------------------------------------------------

BAD_CHANGES = {
    "an attempt finishing that never started": succeeded("segment", 7, 9),
    "a step change to a run never created": StepChanged("ghost", "normalize", "running", 1),
    "a run change to a run never created": RunChanged("ghost", "running", at(1)),
    "a change to a step the run does not have": StepChanged("r1", "polish", "running", 1),
    "a run created a second time": created("r1"),
}


@pytest.mark.parametrize("bad_change", BAD_CHANGES.values(), ids=BAD_CHANGES.keys())
def test_a_write_with_an_inconsistent_change_raises_and_records_nothing(
    store: Store, bad_change: Change
) -> None:
    """A write holding a change the store cannot apply raises PlatformError and applies none."""
    store.write([created("r1")])
    before = store.get_run("r1")

    with pytest.raises(PlatformError):
        store.write(
            [
                RunChanged("r1", "running", at(1)),
                StepChanged("r1", "normalize", "running", 1),
                started("normalize", 1, 1),
                created("r2"),
                bad_change,
            ]
        )

    assert store.get_run("r1") == before
    assert store.get_run("r2") is None


# Leases of local runs -------------------------------------------------------------------------


def owned(
    run_id: str, owner: str, lease_until: datetime | None, engine: str = "local"
) -> RunCreated:
    return replace(created(run_id), owner=owner, lease_until=lease_until, engine=engine)


def test_renewing_extends_the_lease_of_the_owners_unfinished_runs_only(store: Store) -> None:
    """renew_leases touches the unfinished runs of that owner and names them; a finished run
    and another owner's run are neither renewed nor named."""
    store.write(
        [
            owned("mine", "host-a:7:aa", at(10)),
            owned("done", "host-a:7:aa", at(10)),
            owned("theirs", "host-b:7:bb", at(10)),
            RunChanged("done", "succeeded", at(5)),
        ]
    )
    assert store.renew_leases("host-a:7:aa", at(100)) == {"mine"}
    abandoned = {s.run_id: s for s in store.abandoned_runs(at(50))}
    assert set(abandoned) == {"theirs"}
    assert abandoned["theirs"].lease_until == at(10)


def test_runs_whose_lease_ran_out_are_closed_as_abandoned_by_any_process(store: Store) -> None:
    """A local run held by a process on another host (PID 1 in a container) is closed once its
    lease runs out, whoever closes it: failed, saying why, its running attempt aborted. Runs
    still leased, unclaimed control-plane runs and distributed runs are left alone."""
    from rainbow.engine.interrupted import close_abandoned_runs

    store.write(
        [
            owned("dead", "container-9f2:1:c0ffee", at(10)),
            started("normalize", 1, 5, run_id="dead"),
            owned("alive", "host-a:7:aa", at(100)),
            owned("unclaimed", "", None),
            owned("remote", "host-a:7:aa", at(10), engine="celery"),
        ]
    )
    assert close_abandoned_runs(store, at(20)) == ["dead"]
    detail = store.get_run("dead")
    assert detail is not None and detail.summary.status == "failed"
    reason = detail.summary.reason or ""
    assert "abandoned" in reason and "container-9f2:1:c0ffee" in reason
    (attempt,) = detail.steps[0].attempts
    assert attempt.status == "aborted" and attempt.error_type == "Abandoned"
    assert [s.status for s in detail.steps] == ["cancelled"] * 3
    statuses = store.run_statuses(["alive", "unclaimed", "remote"])
    assert statuses == {"alive": "pending", "unclaimed": "pending", "remote": "pending"}
    assert close_abandoned_runs(store, at(20)) == []


def test_only_one_process_takes_an_abandoned_run_over(store: Store) -> None:
    """take_over is a compare-and-swap on the owner: the first closer gets the run, a second one
    (or a renewed lease) does not, and the old owner no longer holds it."""
    store.write([owned("r1", "host-a:7:aa", at(10)), owned("live", "host-a:7:aa", at(100))])
    assert not store.take_over("live", "host-a:7:aa", "closer:1:x", at(20))
    assert store.take_over("r1", "host-a:7:aa", "closer:1:x", at(20))
    assert not store.take_over("r1", "host-a:7:aa", "closer:2:y", at(20))
    assert store.renew_leases("host-a:7:aa", at(200)) == {"live"}
