"""Runs over a corpus become figures: each metric's samples, Rainbow's own timings, and the
failed units counted as a metric of their own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rainbow.dsl.compiler import compile_pipeline
from rainbow.engine.local import LocalEngine, LocalOptions
from rainbow.engine.store import MemoryStore
from rainbow.engine.workunits import WorkUnit
from rainbow.evaluate.aggregate import figures_of
from rainbow.evaluate.figures import FAILED_UNITS, CorpusRef, Figures, Tolerance
from rainbow.loading import import_file
from rainbow.sdk.catalog import modules_in
from tests.deploy.gitrepo import commit, new_repo
from tests.evaluate import scored

CORPUS = CorpusRef(name="numbers", version="1", content_hash="sha256:" + "0" * 64)


def test_a_corpus_run_becomes_figures_per_step_metric_and_per_run(tmp_path: Path) -> None:
    spec, _ = compile_pipeline(scored.scored)
    units = [
        WorkUnit("one", {"x": 1}),
        WorkUnit("five", {"x": 5}),
        WorkUnit("broken", {"x": 9, "fail": True}),
    ]
    store = MemoryStore()
    options = LocalOptions(
        workers=1,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
    )
    engine = LocalEngine(store, modules_in(vars(scored), depth=0), options)
    outcomes = engine.run(spec, units)
    details = [store.get_run(o.run_id) for o in outcomes]
    made_at = datetime(2026, 12, 7, tzinfo=UTC)

    figures = figures_of(
        [d for d in details if d is not None],
        target="scored",
        corpus=CORPUS,
        units=[u.name for u in units],
        made_at=made_at,
        commit="abc",
        branch="main",
    )

    quality = figures.metrics["score.quality"]
    assert (quality.units, quality.values) == (["one", "five"], [0.1, 0.5])
    assert (quality.better, quality.kind) == ("high", "quality")
    assert quality.tolerance == Tolerance(absolute=0.05)
    work = figures.metrics["score.work_ms"]
    assert (work.kind, work.better, work.values) == ("timing", "low", [2.0, 6.0])
    assert work.tolerance is None
    assert figures.metrics["score.duration_s"].kind == "timing"
    assert figures.metrics["run:duration_s"].count == 2
    assert figures.metrics[FAILED_UNITS].values == [1.0]
    assert figures.failed_units == ["broken"]
    assert set(figures.runs) == {"one", "five", "broken"}
    assert figures.spec_hash == spec.spec_hash
    assert Figures.model_validate_json(figures.model_dump_json()) == figures


def test_a_cached_steps_timings_are_not_samples_of_this_evaluation(tmp_path: Path) -> None:
    """Timed when the step ran, in another run: its quality metrics count, its timings do not."""
    # The module committed in a repository of its own: only clean code is cached.
    repo = new_repo(tmp_path / "repo")
    commit(repo, {"scored_copy.py": Path(scored.__file__).read_text()})
    namespace = vars(import_file(repo / "scored_copy.py"))
    spec, _ = compile_pipeline(namespace["scored"])
    store = MemoryStore()
    options = LocalOptions(
        workers=1,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
    )
    engine = LocalEngine(store, modules_in(namespace, depth=0), options)
    unit = WorkUnit("one", {"x": 3})
    engine.run(spec, [unit])
    (again,) = engine.run(spec, [unit])
    detail = store.get_run(again.run_id)
    assert detail is not None and detail.steps[0].attempts[-1].cached_from
    figures = figures_of(
        [detail], target="scored", corpus=CORPUS, units=["one"], made_at=datetime.now(UTC)
    )
    assert figures.metrics["score.quality"].values == [0.3]
    work = figures.metrics["score.work_ms"]
    assert (work.values, work.reused) == ([], 1)
    assert figures.metrics["score.duration_s"].reused == 1
