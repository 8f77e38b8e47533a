"""The local executor runs real processes: parallel branches, retries, crashes, timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rainbow.dsl.compiler import compile_pipeline
from rainbow.dsl.pipeline import PipelineDef
from rainbow.engine.local import LocalEngine, LocalOptions, RunOutcome
from rainbow.engine.machine import RetryPolicy
from rainbow.engine.store import MemoryStore
from rainbow.engine.workunits import WorkUnit
from rainbow.sdk.catalog import modules_in

from . import modules_for_tests as fixtures

pytestmark = pytest.mark.slow

MODULES = modules_in(vars(fixtures), depth=0)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def engine(store: MemoryStore, tmp_path: Path) -> Iterator[LocalEngine]:
    options = LocalOptions(
        workers=2,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
        retry=RetryPolicy(base_delay=0.05, max_delay=0.2),
    )
    return LocalEngine(store, MODULES, options)


def run(engine: LocalEngine, pipeline: PipelineDef, *inputs: dict[str, Any]) -> list[RunOutcome]:
    spec, _ = compile_pipeline(pipeline)
    return engine.run(spec, [WorkUnit(f"unit-{i}", dict(x)) for i, x in enumerate(inputs)])


def attempts(store: MemoryStore, run_id: str, step: str) -> list[Any]:
    detail = store.get_run(run_id)
    assert detail is not None
    return list(next(s for s in detail.steps if s.step == step).attempts)


def test_diamond_runs_branches_in_parallel_and_records_every_attempt(
    engine: LocalEngine, store: MemoryStore
) -> None:
    """Independent branches overlap in time; outputs flow A→B,C,D→E→F; each attempt is stored."""
    (outcome,) = run(engine, fixtures.diamond, {"x": 1, "pause": 0.3})
    assert outcome.status == "succeeded", outcome.reason
    assert outcome.outputs == {"result": 11}
    detail = store.get_run(outcome.run_id)
    assert detail is not None and detail.summary.status == "succeeded"
    assert [len(s.attempts) for s in detail.steps] == [1] * 6
    windows = [
        (s.outputs["started"], s.outputs["finished"])  # type: ignore[index]
        for s in detail.steps
        if s.step in ("add-2", "add-3", "add-4")
    ]
    overlapping = sum(
        1 for i, a in enumerate(windows) for b in windows[i + 1 :] if a[0] < b[1] and b[0] < a[1]
    )
    assert overlapping >= 1, windows


def test_many_units_all_complete(engine: LocalEngine, store: MemoryStore) -> None:
    """Fifty work units through the diamond all succeed with the right results."""
    outcomes = run(engine, fixtures.diamond, *({"x": i} for i in range(50)))
    assert [o.outputs["result"] for o in outcomes] == [3 * i + 8 for i in range(50)]
    assert len(store.list_runs(limit=100, status="succeeded")) == 50


def test_failed_attempts_are_retried_with_backoff(engine: LocalEngine, store: MemoryStore) -> None:
    """A step failing twice then succeeding is attempted three times, each attempt recorded."""
    (outcome,) = run(engine, fixtures.flaky_chain, {"x": 4})
    assert outcome.status == "succeeded", outcome.reason
    tries = attempts(store, outcome.run_id, "flaky")
    assert [a.status for a in tries] == ["failed", "failed", "succeeded"]
    assert tries[0].error_type == "ConnectionError"
    assert "service unavailable" in (tries[0].error_message or "")
    gap = (tries[1].started_at - tries[0].finished_at).total_seconds()  # type: ignore[operator]
    assert gap >= 0.02


@pytest.mark.parametrize(
    ("how", "signal_number", "message"),
    [
        ("kill", 9, "signal 9 SIGKILL"),
        ("segfault", 11, "signal 11 SIGSEGV"),
        ("exit", None, "exit code 7"),
    ],
)
def test_a_crashing_step_is_recorded_as_worker_lost_and_retried(
    engine: LocalEngine, store: MemoryStore, how: str, signal_number: int | None, message: str
) -> None:
    """kill -9, a segfault or os._exit is 'worker lost' with the signal, retried per policy."""
    (outcome,) = run(engine, fixtures.crashes, {"how": how})
    assert outcome.status == "failed"
    tries = attempts(store, outcome.run_id, "crash")
    assert [a.status for a in tries] == ["worker_lost", "worker_lost"]
    assert tries[0].exit_signal == signal_number
    assert message in (tries[0].error_message or "")
    assert message in (outcome.reason or "")


def test_a_step_deaf_to_its_timeout_is_killed_for_real(
    engine: LocalEngine, store: MemoryStore
) -> None:
    """A step blocking SIGALRM is SIGKILLed shortly after its timeout and recorded as timed out."""
    started = time.monotonic()
    (outcome,) = run(engine, fixtures.stubborn_pipeline, {"seconds": 30})
    elapsed = time.monotonic() - started
    assert outcome.status == "failed"
    (attempt,) = attempts(store, outcome.run_id, "stubborn")
    assert attempt.status == "timed_out"
    assert attempt.exit_signal == 9
    assert elapsed < 5


def test_a_slow_step_times_out_softly_with_its_traceback(
    engine: LocalEngine, store: MemoryStore
) -> None:
    """A step past its timeout gets StepTimeout where it was; it is retried, then fails the run."""
    (outcome,) = run(engine, fixtures.sleepy_pipeline, {"seconds": 30})
    tries = attempts(store, outcome.run_id, "sleepy")
    assert [a.status for a in tries] == ["timed_out", "timed_out"]
    assert "time.sleep" in (tries[0].traceback or "")
    assert all(0.25 < (a.duration_s or 0) < 1.5 for a in tries)


def test_run_deadline_fails_the_run_and_aborts_what_runs(
    engine: LocalEngine, store: MemoryStore
) -> None:
    """A run past its deadline is timed_out at once; its in-flight step is killed."""
    started = time.monotonic()
    (outcome,) = run(engine, fixtures.deadline, {"seconds": 10})
    assert outcome.status == "timed_out"
    assert time.monotonic() - started < 3
    # The worker clips the step's budget to the run's deadline, so the attempt may report its
    # own timeout just before the engine aborts it: either way it did not run on.
    assert {a.status for a in attempts(store, outcome.run_id, "sleepy")} <= {"aborted", "timed_out"}
    assert {s.id: s.status for s in outcome.steps} == {"sleepy": "cancelled", "add": "cancelled"}


def test_permanent_error_is_not_retried(engine: LocalEngine, store: MemoryStore) -> None:
    """rb.PermanentError fails the step on its first attempt despite retries=5."""
    (outcome,) = run(engine, fixtures.refusal, {})
    assert outcome.status == "failed"
    assert len(attempts(store, outcome.run_id, "refuse")) == 1
    assert "can never work" in (outcome.reason or "")


def test_module_logs_are_logfmt_with_the_run_context_on_every_line(
    engine: LocalEngine, tmp_path: Path
) -> None:
    """ctx.log lines are logfmt and carry run_id, step, module, version and attempt."""
    (outcome,) = run(engine, fixtures.diamond, {"x": 5})
    lines = [
        line
        for line in (tmp_path / "rainbow.log").read_text().splitlines()
        if "event=adding" in line and f"run_id={outcome.run_id}" in line
    ]
    assert len(lines) == 6
    fields = dict(pair.split("=", 1) for pair in lines[0].split(" ") if "=" in pair)
    assert fields["level"] == "info"
    assert {"ts", "step", "module", "version", "attempt", "value"} <= set(fields)
    assert (fields["module"], fields["version"], fields["attempt"]) == ("add", "latest", "1")


def test_aborted_attempts_are_never_left_running(tmp_path: Path) -> None:
    """With one worker, a task queued behind a failing one is aborted and never recorded running."""
    store = MemoryStore()
    options = LocalOptions(
        workers=1,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
    )
    (outcome,) = run(LocalEngine(store, MODULES, options), fixtures.refusal_with_sibling, {})
    assert outcome.status == "failed"
    detail = store.get_run(outcome.run_id)
    assert detail is not None
    assert all(a.status != "running" for s in detail.steps for a in s.attempts)
    assert not (tmp_path / "work" / outcome.run_id).exists()


def test_a_slow_module_import_does_not_count_against_the_first_timeout(
    engine: LocalEngine,
) -> None:
    """Module code is imported before the worker takes tasks, outside any step's timeout."""
    from . import slow_import_modules

    modules = modules_in(vars(slow_import_modules), depth=0)
    slow = LocalEngine(engine.store, modules, engine.options)
    (outcome,) = run(slow, slow_import_modules.slow_import, {})
    assert outcome.status == "succeeded", outcome.reason


def test_a_run_closed_by_another_process_is_let_go(store: MemoryStore, tmp_path: Path) -> None:
    """If this process stalls past its lease and another closes its run as abandoned, the
    engine stops that run's work and records nothing more: the store keeps one true ending."""
    from datetime import UTC, datetime, timedelta

    from rainbow.engine.interrupted import close_abandoned_runs

    def close_the_others(outcome: RunOutcome) -> None:
        # Seen from a process whose clock is an hour on: every lease here has run out.
        close_abandoned_runs(store, datetime.now(UTC) + timedelta(hours=1))

    options = LocalOptions(
        workers=2,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
        lease_s=0.3,
    )
    engine = LocalEngine(store, MODULES, options, on_finish=close_the_others)
    spec, _ = compile_pipeline(fixtures.single)
    began = time.monotonic()
    quick, slow = engine.run(
        spec, [WorkUnit("quick", {"x": 1}), WorkUnit("slow", {"x": 2, "pause": 5})]
    )
    assert time.monotonic() - began < 4, "the engine waited for the run it had let go"
    assert quick.status == "succeeded"
    assert slow.status == "failed" and "another Rainbow process" in (slow.reason or "")
    detail = store.get_run(slow.run_id)
    assert detail is not None and "abandoned" in (detail.summary.reason or "")
    assert all(a.status != "running" for s in detail.steps for a in s.attempts)


def test_every_attempt_records_the_commit_of_the_code_that_ran_it(
    engine: LocalEngine, store: MemoryStore
) -> None:
    from rainbow.vcs import code_state

    (outcome,) = run(engine, fixtures.diamond, {"x": 1})
    commit, _ = code_state(Path(fixtures.__file__))
    recorded = {(a.commit, a.artifact) for a in attempts(store, outcome.run_id, "add")}
    assert recorded == {(commit, "")}  # local code: a commit, no released artifact
    assert commit  # the tests run from a git checkout
