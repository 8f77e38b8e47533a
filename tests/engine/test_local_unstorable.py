"""Values the store cannot hold fail only their own run in the local engine, on either database."""

from __future__ import annotations

from pathlib import Path

import pytest

from rainbow.dsl.compiler import compile_pipeline
from rainbow.engine.local import LocalEngine, LocalOptions
from rainbow.engine.store import Store
from rainbow.engine.workunits import WorkUnit
from rainbow.sdk.catalog import modules_in

from . import modules_for_tests as fixtures

pytestmark = pytest.mark.slow

MODULES = modules_in(vars(fixtures), depth=0)


@pytest.fixture(params=["sqlite_database", "postgres_database"])
def store(request: pytest.FixtureRequest) -> Store:
    alias = request.getfixturevalue(request.param)
    from rainbow.control.persistence.store import DjangoStore

    return DjangoStore(using=alias)


def _run(store: Store, tmp_path: Path, wheres: list[str]) -> dict[str, object]:
    options = LocalOptions(
        workers=2,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
    )
    spec, _ = compile_pipeline(fixtures.nul_text)
    units = [WorkUnit(f"{i}-{where}", {"where": where}) for i, where in enumerate(wheres)]
    outcomes = LocalEngine(store, MODULES, options).run(spec, units)
    return {o.unit.split("-", 1)[1]: o for o in outcomes}


def test_nul_characters_fail_only_their_run_and_text_is_kept_readable(
    store: Store, tmp_path: Path
) -> None:
    """A NUL in an output fails its run saying so; a NUL in an error message or a metric name is
    stored as \\0; the clean runs of the same batch succeed and everything is recorded."""
    by_where = _run(store, tmp_path, ["nowhere", "output", "error", "metric", "nowhere"])
    output, error, metric = by_where["output"], by_where["error"], by_where["metric"]
    assert by_where["nowhere"].status == "succeeded"  # type: ignore[attr-defined]
    assert output.status == "failed"  # type: ignore[attr-defined]
    assert "NUL character" in output.reason  # type: ignore[attr-defined]
    assert error.status == "failed"  # type: ignore[attr-defined]
    assert metric.status == "succeeded"  # type: ignore[attr-defined]

    stored = store.get_run(error.run_id)  # type: ignore[attr-defined]
    assert stored is not None and stored.summary.status == "failed"
    (attempt,) = stored.steps[0].attempts
    assert attempt.error_message == "bad\\0value"
    stored = store.get_run(metric.run_id)  # type: ignore[attr-defined]
    assert stored is not None
    assert [m.name for m in stored.summary.metrics] == ["bad\\0name"]
    assert store.get_run(output.run_id).summary.status == "failed"  # type: ignore[union-attr,attr-defined]


def test_a_long_metric_name_is_cut_to_its_column_on_both_databases(
    store: Store, tmp_path: Path
) -> None:
    """A metric name longer than its column is stored cut to it, so SQLite and PostgreSQL
    agree (PostgreSQL would refuse it whole)."""
    by_unit = _run(store, tmp_path, ["long metric name"])
    outcome = by_unit["long metric name"]
    assert outcome.status == "succeeded", outcome.reason  # type: ignore[attr-defined]
    stored = store.get_run(outcome.run_id)  # type: ignore[attr-defined]
    assert stored is not None
    assert [m.name for m in stored.summary.metrics] == ["m" * 200]


def test_a_change_postgresql_refuses_fails_only_its_run(
    postgres_database: str, tmp_path: Path
) -> None:
    """Of a batch of changes, one PostgreSQL refuses (a NUL in a step's outputs, as an older
    worker could send): that run is failed with the store's reason and keeps the history the
    store takes; the other run's changes are all recorded."""
    from datetime import UTC, datetime

    from rainbow.control.persistence.store import DjangoStore
    from rainbow.engine.records import RunChanged, StepChanged
    from rainbow.engine.submission import new_runs

    store = DjangoStore(using=postgres_database)
    options = LocalOptions(work_root=tmp_path / "work", log_file=tmp_path / "rainbow.log")
    engine = LocalEngine(store, MODULES, options)
    spec, _ = compile_pipeline(fixtures.single)
    good, bad = new_runs(
        spec, [WorkUnit("good", {"x": 1}), WorkUnit("bad", {"x": 2})], engine="local"
    )
    store.write([good, bad])
    now = datetime.now(UTC)
    engine.record(
        [
            RunChanged(good.run_id, "running", now),
            RunChanged(bad.run_id, "running", now),
            StepChanged(good.run_id, "add", "running", 1),
            StepChanged(bad.run_id, "add", "succeeded", 1, {"value": "a\x00b"}),
        ]
    )
    refused = engine.flush(force=True)
    assert list(refused) == [bad.run_id] and "could not record" in refused[bad.run_id]
    statuses = store.run_statuses([good.run_id, bad.run_id])
    assert statuses == {good.run_id: "running", bad.run_id: "failed"}
    detail = store.get_run(good.run_id)
    assert detail is not None and detail.steps[0].status == "running"


def test_a_work_unit_the_store_cannot_hold_is_refused_before_anything_runs() -> None:
    """A lone surrogate or a NUL in a unit's value (a JSON escape away in a request) is RB-E040
    naming the input, wherever units enter (CLI, API, smoke units): it never reaches a store
    that would refuse it halfway through a submission."""
    from rainbow.engine.workunits import bind_inputs
    from rainbow.errors import DiagnosticError

    spec, _ = compile_pipeline(fixtures.nul_text)
    for bad in ("a\ud800", "a\x00b"):
        with pytest.raises(DiagnosticError) as refused:
            bind_inputs({"where": bad}, spec, base=Path("/"), file="unit.json")
        (problem,) = refused.value.diagnostics
        assert problem.code == "RB-E040" and "input 'where'" in problem.message
