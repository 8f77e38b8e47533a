"""DjangoStore beyond the shared contract: query counts, UTC, and folding batches correctly."""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rainbow.engine.records import (
    AttemptFinished,
    AttemptStarted,
    Change,
    MetricValue,
    RunChanged,
    RunCreated,
    StepChanged,
)
from rainbow.engine.store import MemoryStore

if TYPE_CHECKING:
    from rainbow.control.persistence.store import DjangoStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STEPS = ("normalize", "segment", "measure")
DATABASE_FIXTURES = {"sqlite": "sqlite_database", "postgresql": "postgres_database"}


@pytest.fixture(params=DATABASE_FIXTURES)
def alias(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(DATABASE_FIXTURES[request.param]))


@pytest.fixture
def store(alias: str) -> DjangoStore:
    from rainbow.control.persistence.store import DjangoStore

    return DjangoStore(using=alias)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_run(run_id: str, created_at: datetime = T0) -> list[Change]:
    return [
        RunCreated(
            run_id, "room-scan", "sha256:abc", {}, {}, "unit.json", "local", created_at, STEPS
        ),
        RunChanged(run_id, "running", created_at),
    ]


def finished_step(run_id: str, step: str, attempt: int = 1) -> list[Change]:
    return [
        StepChanged(run_id, step, "running", attempt),
        AttemptStarted(run_id, step, attempt, step, "1.0", T0),
        AttemptFinished(
            run_id,
            step,
            attempt,
            "succeeded",
            at(1),
            1.0,
            metrics=[
                MetricValue("score", 1.0, "high", step),
                MetricValue("cost", 2.0, "low", step),
            ],
            timings={"load": 0.1},
        ),
        StepChanged(run_id, step, "succeeded", attempt, {"out": step}),
    ]


def whole_run(run_id: str, created_at: datetime = T0) -> list[Change]:
    changes = new_run(run_id, created_at)
    for step in STEPS:
        changes += finished_step(run_id, step)
    return [*changes, RunChanged(run_id, "succeeded", at(2))]


def queries_of(alias: str, action: Callable[[], object]) -> int:
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connections[alias]) as context:
        action()
    return len(context.captured_queries)


def test_a_list_page_costs_the_same_queries_for_3_runs_as_for_30(
    store: DjangoStore, alias: str
) -> None:
    """list_runs makes a constant number of queries, however many runs, steps and metrics."""
    store.write([c for i in range(3) for c in whole_run(f"r{i}", at(i))])
    few = queries_of(alias, store.list_runs)
    store.write([c for i in range(3, 30) for c in whole_run(f"r{i}", at(i))])
    many = queries_of(alias, store.list_runs)

    assert len(store.list_runs()) == 30
    assert few == many <= 2


def test_get_run_costs_the_same_queries_whatever_the_runs_size(
    store: DjangoStore, alias: str
) -> None:
    """get_run makes a constant number of queries, however many attempts and metrics."""
    store.write(new_run("small"))
    small = queries_of(alias, lambda: store.get_run("small"))
    retries = [c for attempt in (1, 2, 3) for c in finished_step("big", "segment", attempt)]
    store.write(whole_run("big") + retries)
    big = queries_of(alias, lambda: store.get_run("big"))

    assert small == big <= 4


def test_a_write_of_new_runs_costs_the_same_statements_for_2_runs_as_for_40(
    store: DjangoStore, alias: str
) -> None:
    """Creating and finishing whole runs in one write costs statements independent of count."""

    def write_runs(prefix: str, count: int) -> None:
        store.write([c for i in range(count) for c in whole_run(f"{prefix}{i}")])

    assert queries_of(alias, lambda: write_runs("a", 2)) == queries_of(
        alias, lambda: write_runs("b", 40)
    )


def test_writes_to_stored_runs_cost_the_same_statements_for_2_runs_as_for_40(
    store: DjangoStore, alias: str
) -> None:
    """Starting, then finishing, attempts of stored runs costs statements independent of count."""
    store.write([c for i in range(42) for c in new_run(f"r{i}")])
    starts, finishes = [], []
    for i in range(42):
        start, attempt_started, attempt_finished, finish = finished_step(f"r{i}", "segment")
        starts += [start, attempt_started]
        finishes += [attempt_finished, finish]

    small = queries_of(alias, lambda: (store.write(starts[:4]), store.write(finishes[:4])))
    large = queries_of(alias, lambda: (store.write(starts[4:]), store.write(finishes[4:])))
    assert small == large


def test_a_batch_mixing_whole_and_fractional_numbers_is_stored(store: DjangoStore) -> None:
    """Metric values and durations reach the store as ints and floats alike; a batch holding
    both is stored as it is (PostgreSQL receives a column as one array of one type)."""
    changes = new_run("r1")
    for step, value, duration in (("normalize", 1, 2), ("segment", 2.5, 0.5)):
        changes += [
            StepChanged("r1", step, "running", 1),
            AttemptStarted("r1", step, 1, step, "1.0", T0),
            AttemptFinished(
                "r1", step, 1, "succeeded", at(1), duration, [MetricValue("n", value, "high")]
            ),
        ]
    store.write(changes)
    detail = store.get_run("r1")
    assert detail is not None
    stored = {
        s.step: (s.attempts[0].duration_s, s.attempts[0].metrics[0].value)
        for s in detail.steps
        if s.attempts
    }
    assert stored["normalize"] == (2.0, 1.0) and stored["segment"] == (0.5, 2.5)


def test_a_value_longer_than_its_column_is_never_stored_cut_short(store: DjangoStore) -> None:
    """A name too long for its column is refused (PostgreSQL) or kept whole (SQLite, which has
    no lengths), never stored cut short."""
    from rainbow.errors import StoreRefused

    store.write(new_run("r1"))
    too_long = "w" * 300  # the worker column holds 255
    started = AttemptStarted("r1", "normalize", 1, "normalize", "1.0", T0, worker=too_long)
    try:
        store.write([StepChanged("r1", "normalize", "running", 1), started])
    except StoreRefused:
        return
    detail = store.get_run("r1")
    assert detail is not None
    assert detail.steps[0].attempts[0].worker == too_long


def test_timestamps_read_back_in_utc(store: DjangoStore) -> None:
    """Every timestamp the store returns is timezone-aware and in UTC."""
    store.write(whole_run("r1"))

    run = store.get_run("r1")
    assert run is not None
    stamps = [run.summary.created_at, run.summary.started_at, run.summary.finished_at]
    stamps += [a.started_at for step in run.steps for a in step.attempts]
    assert {stamp.utcoffset() if stamp else None for stamp in stamps} == {timedelta(0)}


# Folding batches: any split of a history into writes must give MemoryStore's result ----------

_RUN_IDS = (f"h{n}" for n in itertools.count())
_TEXT = st.text(alphabet=string.ascii_letters + " \n", max_size=8)
_JSON = st.none() | st.dictionaries(st.sampled_from("abc"), st.integers(-3, 3), max_size=2)
_METRICS = st.lists(
    st.builds(
        MetricValue,
        name=st.sampled_from(["iou", "loss"]),
        value=st.floats(allow_nan=False, allow_infinity=False),
        better=st.sampled_from(["high", "low"]),
    ),
    max_size=2,
)


def _history(data: st.DataObject, run_id: str) -> list[Change]:
    """A random but valid history of one run: what the engine could send."""
    steps = data.draw(st.lists(st.sampled_from(STEPS), min_size=1, max_size=3, unique=True))
    changes: list[Change] = [
        RunCreated(run_id, "p", "sha256:x", {"s": 1}, {"i": 2}, "u", "local", T0, steps)
    ]
    latest: dict[str, int] = {}
    kinds = ["run", "step", "start", "restart", "finish"]
    for tick, kind in enumerate(data.draw(st.lists(st.sampled_from(kinds), max_size=25))):
        step = data.draw(st.sampled_from(steps))
        when = at(tick)
        if kind == "run":
            status = data.draw(st.sampled_from(["pending", "running", "succeeded", "failed"]))
            reason = data.draw(st.none() | _TEXT)
            changes.append(RunChanged(run_id, status, when, reason, data.draw(_JSON)))
        elif kind == "step":
            status = data.draw(st.sampled_from(["running", "retrying", "succeeded"]))
            outputs = data.draw(_JSON)
            changes.append(StepChanged(run_id, step, status, latest.get(step, 0), outputs))
        elif kind == "start" or (kind == "restart" and step in latest):
            number = latest.get(step, 0) + (kind == "start")
            latest[step] = number
            changes.append(AttemptStarted(run_id, step, number, step, "1.0", when))
        elif kind == "finish" and step in latest:
            number = data.draw(st.integers(1, latest[step]))
            changes.append(
                AttemptFinished(
                    run_id,
                    step,
                    number,
                    data.draw(st.sampled_from(["succeeded", "failed", "timed_out"])),
                    when,
                    data.draw(st.floats(0, 100)),
                    metrics=data.draw(_METRICS),
                    timings=data.draw(st.dictionaries(st.sampled_from("xy"), st.floats(0, 9))),
                    error_type=data.draw(st.none() | _TEXT),
                    error_message=data.draw(st.none() | _TEXT),
                    traceback=data.draw(st.none() | _TEXT),
                    exit_signal=data.draw(st.none() | st.integers(1, 15)),
                )
            )
    return changes


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_split_of_a_history_into_writes_reads_back_like_memory_store(
    store: DjangoStore, data: st.DataObject
) -> None:
    """However a run's history is cut into writes, the run reads back as MemoryStore has it."""
    run_id = next(_RUN_IDS)  # a fresh run per example: examples share the database
    changes = _history(data, run_id)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(changes)), max_size=4))))
    memory = MemoryStore()
    memory.write(changes)

    for start, end in itertools.pairwise([0, *cuts, len(changes)]):
        store.write(changes[start:end])

    assert store.get_run(run_id) == memory.get_run(run_id)
