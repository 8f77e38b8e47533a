"""The room-scan example end to end: real OpenCV modules and the C command module, locally."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from examples.room_scan import corpus, pipeline
from rainbow.dsl.compiler import compile_pipeline
from rainbow.engine.local import LocalEngine, LocalOptions
from rainbow.engine.store import MemoryStore
from rainbow.engine.workunits import load_corpus
from rainbow.sdk.catalog import modules_in

pytestmark = pytest.mark.slow

EDGE_DENSITY = Path(pipeline.__file__).parent / "edge_density" / "edge_density"


@pytest.fixture(scope="module")
def edge_density_built() -> None:
    """The C module, built (or rebuilt when its source changed) by the Makefile's own rule."""
    root = Path(pipeline.__file__).parents[2]
    subprocess.run(["make", "-s", str(EDGE_DENSITY.relative_to(root))], cwd=root, check=True)


def test_room_scan_runs_over_a_corpus_with_meaningful_metrics(
    tmp_path: Path, edge_density_built: None
) -> None:
    """Every unit succeeds, floor IoU against the ground truth is high, outputs are files."""
    corpus.generate(tmp_path / "corpus", count=3, seed=11)
    spec, warnings = compile_pipeline(pipeline.room_scan)
    assert warnings == []
    assert {"edge-profile.edge_density", "floor-profile.edge_density"} <= {s.id for s in spec.steps}
    store = MemoryStore()
    options = LocalOptions(
        workers=2,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
    )
    engine = LocalEngine(store, modules_in(vars(pipeline)), options)
    outcomes = engine.run(spec, load_corpus(tmp_path / "corpus", spec))
    assert [o.status for o in outcomes] == ["succeeded"] * 3, [o.reason for o in outcomes]
    for outcome in outcomes:
        assert outcome.outputs["iou"] > 0.9
        assert 0 < outcome.outputs["density"] < 1
        assert Path(outcome.outputs["overlay"]["$asset"]).is_file()
        summary = store.list_runs(limit=10)
        metrics = {(m.step, m.name) for run in summary for m in run.metrics}
        assert ("score_floor", "floor_iou") in metrics
        assert ("floor-profile.edge_density", "edge_density") in metrics
