"""What a worker's result may carry: outputs capped in size and storable, text made storable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import rainbow as rb
from rainbow.sdk.invoke import WorkerEnv, invoke
from rainbow.sdk.messages import Result
from rainbow.storable import MAX_TEXT_CHARS, text_problem
from tests.sdk.test_invoke import task


@rb.module(name="returns")
def returns(ctx: rb.Context, how: str, size: int = 0) -> dict[str, Any]:
    if how == "big":
        return {"small": 1, "blob": "x" * size}
    if how == "big-with-asset":
        image = ctx.new_asset("image.bin")
        image.path.write_bytes(b"\0" * size)  # an asset's bytes travel by reference
        return {"image": image, "note": "ok"}
    if how == "nul":
        return {"labels": ["wall", "door\x00"]}
    if how == "surrogate-key":
        return {"counts": {"caf\udce9": 1}}
    if how == "deep":
        nested: Any = "bottom"
        for _ in range(100):
            nested = [nested]
        return {"tree": nested}
    raise AssertionError(how)


@pytest.fixture
def env(tmp_path: Path) -> WorkerEnv:
    return WorkerEnv(assets_url=str(tmp_path / "assets"), work_root=tmp_path / "work")


def failure(result: Result) -> str:
    """The result's failure message, after checking it is a permanent failure."""
    assert result["status"] == "failed" and result["outputs"] is None
    error = result["error"]
    assert error is not None and not error["retryable"], error
    return error["message"]


def test_outputs_over_the_limit_fail_for_good_saying_to_return_an_asset(env: WorkerEnv) -> None:
    """Outputs whose JSON exceeds RAINBOW_MAX_OUTPUT_BYTES (1 MiB by default) fail the attempt
    without retries, giving the size, the largest output and the way out (an rb.Asset)."""
    message = failure(invoke(returns, task("returns", {"how": "big", "size": 2 << 20}), env))
    assert "RB-E043" in message and "RAINBOW_MAX_OUTPUT_BYTES" in message
    assert "'blob' alone 2,097,154" in message and "1,048,576" in message
    assert "rb.Asset" in message and "ctx.new_asset()" in message
    fits = invoke(returns, task("returns", {"how": "big", "size": 1000}), env)
    assert fits["status"] == "succeeded", fits["error"]


ACCENTED = {"small": 1, "blob": "é" * 40}


@rb.module(name="accented")
def accented(ctx: rb.Context) -> dict[str, Any]:
    return dict(ACCENTED)


def test_the_limit_is_the_workers_setting_and_counts_the_json_exactly(tmp_path: Path) -> None:
    """WorkerEnv.max_output_bytes is the limit, and what it measures is the outputs' JSON text
    in UTF-8 (an "é" is two bytes), to the byte."""
    exact = len(json.dumps(ACCENTED, ensure_ascii=False).encode())
    for limit, status in ((exact, "succeeded"), (exact - 1, "failed")):
        env = WorkerEnv(str(tmp_path / "assets"), tmp_path / "work", max_output_bytes=limit)
        result = invoke(accented, task("accented", {}), env)
        assert result["status"] == status, (limit, result["error"])


def test_an_asset_counts_as_its_reference_not_its_bytes(tmp_path: Path) -> None:
    """A large file returned as an rb.Asset passes a limit far below its size."""
    env = WorkerEnv(str(tmp_path / "assets"), tmp_path / "work", max_output_bytes=300)
    result = invoke(returns, task("returns", {"how": "big-with-asset", "size": 100_000}), env)
    assert result["status"] == "succeeded", result["error"]
    assert Path(result["outputs"]["image"]["$asset"]).stat().st_size == 100_000  # type: ignore[index]


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("nul", "outputs.labels[1] contains a NUL character at offset 4"),
        ("surrogate-key", "a key in outputs.counts is not valid UTF-8 at offset 3"),
        ("deep", "is nested deeper than 64 levels"),
    ],
)
def test_an_output_the_store_cannot_hold_fails_its_attempt_for_good(
    env: WorkerEnv, how: str, says: str
) -> None:
    """NUL, a lone surrogate or nesting PostgreSQL refuses fails only that attempt, not
    retryable, with the JSON path of the value; nothing unstorable reaches the result."""
    message = failure(invoke(returns, task("returns", {"how": how}), env))
    assert says in message and "RB-E044" in message
    assert text_problem(message) is None


@rb.module(name="dirty")
def dirty(ctx: rb.Context) -> dict[str, Any]:
    ctx.metric("iou\x00", 0.5)
    with ctx.timeout("load\udcff", 5):
        pass
    raise ValueError("bad pixel \x00 at caf\udce9")


def test_error_text_metric_and_timing_names_are_made_storable(env: WorkerEnv) -> None:
    """A NUL or lone surrogate in an exception, a metric name or a timing name is replaced, so
    the failure is recorded instead of refused by the store."""
    result = invoke(dirty, task("dirty", {}), env)
    error = result["error"]
    assert error is not None and error["retryable"]
    assert error["message"] == "bad pixel \\0 at caf\N{REPLACEMENT CHARACTER}"
    assert text_problem(error["traceback"] or "") is None
    assert "bad pixel \\0" in (error["traceback"] or "")
    assert [m["name"] for m in result["metrics"]] == ["iou\\0"]
    assert "load\N{REPLACEMENT CHARACTER}" in result["timings"]
    json.dumps(result).encode()  # nothing left that UTF-8 refuses


def test_a_huge_error_message_keeps_its_start_and_end(env: WorkerEnv) -> None:
    """An exception carrying megabytes of text is cut in the middle, saying how much."""

    @rb.module(name="loud")
    def loud(ctx: rb.Context) -> dict[str, Any]:
        raise RuntimeError("start " + "x" * 5_000_000 + " end")

    error = invoke(loud, task("loud", {}), env)["error"]
    assert error is not None
    assert len(error["message"]) < MAX_TEXT_CHARS + 100
    assert error["message"].startswith("start ") and error["message"].endswith(" end")
    assert "characters cut" in error["message"]
    assert len(error["traceback"] or "") < MAX_TEXT_CHARS + 100
