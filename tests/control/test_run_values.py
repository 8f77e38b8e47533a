"""A run's detail stays small however large its stored values are; each one is there whole."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rainbow.engine.records import RunChanged, StepChanged
from rainbow.engine.submission import new_runs
from rainbow.engine.workunits import WorkUnit
from rainbow.spec.models import PipelineSpec
from tests.control.conftest import Api

BIG = 300_000
ELIDED = "$elided"


def a_run_with_large_values(spec: dict[str, Any]) -> str:
    """A finished run recorded with outputs far over what a detail shows (as from an older
    worker, before outputs were capped)."""
    from rainbow.control.persistence.store import DjangoStore

    (record,) = new_runs(
        PipelineSpec.model_validate(spec), [WorkUnit("u", {"x": 1})], engine="celery"
    )
    now = datetime.now(UTC)
    DjangoStore().write(
        [
            record,
            RunChanged(record.run_id, "running", now),
            StepChanged(record.run_id, "add", "succeeded", 1, {"value": 2, "log": "y" * BIG}),
            RunChanged(record.run_id, "succeeded", now, outputs={"result": "z" * BIG}),
        ]
    )
    return record.run_id


def test_large_values_in_a_runs_detail_are_markers_saying_where_to_get_them(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """GET /api/runs/ID replaces each value too large to show by its size and a URL; the URL
    answers the value whole; small values stay inline."""
    alice = people["alice"]
    run_id = a_run_with_large_values(registered["spec"])
    answer = alice.get(f"/runs/{run_id}")
    assert answer.status_code == 200 and len(answer.content) < 20_000
    detail = answer.json()
    size = BIG + 2  # the JSON string's quotes
    assert detail["outputs"] == {
        "result": {ELIDED: {"bytes": size, "url": f"/api/runs/{run_id}/outputs/result"}}
    }
    assert detail["inputs"] == {"x": 1}
    step = detail["steps"][0]["outputs"]
    assert step["value"] == 2
    assert step["log"] == {
        ELIDED: {"bytes": size, "url": f"/api/runs/{run_id}/steps/add/outputs/log"}
    }
    whole = alice.call("GET", step["log"][ELIDED]["url"].removeprefix("/api"))
    assert whole.status_code == 200 and whole.json() == {"value": "y" * BIG}
    assert alice.get(f"/runs/{run_id}/outputs/result").json() == {"value": "z" * BIG}
    assert alice.get(f"/runs/{run_id}/inputs/x").json() == {"value": 1}


def test_a_value_that_is_not_there_is_a_404_naming_it(
    registered: dict[str, Any], people: dict[str, Api]
) -> None:
    """An unknown run, step or value name is a 404 saying which; anonymous callers get 401."""
    alice = people["alice"]
    run_id = a_run_with_large_values(registered["spec"])
    missing = alice.get(f"/runs/{run_id}/outputs/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"run {run_id} has no output 'nope'"
    no_step = alice.get(f"/runs/{run_id}/steps/zzz/outputs/log")
    assert no_step.json()["detail"] == f"step 'zzz' of run {run_id} has no output 'log'"
    assert alice.get("/runs/nope/inputs/x").status_code == 404
    assert people["nobody"].get(f"/runs/{run_id}/outputs/result").status_code == 401


def test_the_budget_bounds_the_whole_answer_not_only_each_value(sqlite_database: str) -> None:
    """Many values each small enough still stop being shown once the answer's budget is spent."""
    from rainbow.control.services.run_values import Budget

    budget = Budget(total=100_000, each=60_000)
    shown = [budget.show({"v": "x" * 39_998}, "r1", "outputs", f"s{i}") for i in range(4)]
    assert [isinstance(s["v"], str) for s in shown if s] == [True, True, False, False]
    assert shown[3] == {"v": {ELIDED: {"bytes": 40_000, "url": "/api/runs/r1/steps/s3/outputs/v"}}}
