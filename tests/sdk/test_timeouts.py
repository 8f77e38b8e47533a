"""ctx.timeout blocks nest, are enforced in the main thread and are measured."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import rainbow as rb
from rainbow.sdk.context import Context


def make_ctx(tmp_path: Path) -> Context:
    return Context(run_id="r", step="s", module="m", version="latest", attempt=1, workdir=tmp_path)


def test_inner_block_past_its_budget_raises_with_its_name(tmp_path: Path) -> None:
    """An inner block that overruns raises StepTimeout naming the inner block."""
    ctx = make_ctx(tmp_path)
    with (
        ctx.timeout("outer", 5),
        pytest.raises(rb.StepTimeout) as caught,
        ctx.timeout("inner", 0.05),
    ):
        time.sleep(1)
    assert caught.value.name == "inner"
    assert set(ctx.timeouts.timings) == {"outer", "inner"}
    assert 0.04 < ctx.timeouts.timings["inner"] < 0.5


def test_outer_budget_is_enforced_even_inside_a_generous_inner_block(tmp_path: Path) -> None:
    """An outer deadline fires inside an inner block whose own budget is larger."""
    ctx = make_ctx(tmp_path)
    started = time.monotonic()
    with (
        pytest.raises(rb.StepTimeout) as caught,
        ctx.timeout("outer", 0.1),
        ctx.timeout("inner", 10),
    ):
        time.sleep(2)
    assert caught.value.name == "outer"
    assert time.monotonic() - started < 1


def test_blocks_within_budget_record_durations_and_disarm(tmp_path: Path) -> None:
    """Blocks that finish in time record their duration and leave no timer behind."""
    ctx = make_ctx(tmp_path)
    for _ in range(3):
        with ctx.timeout("decode", 0.2):
            time.sleep(0.01)
    time.sleep(0.3)
    assert ctx.timeouts.timings["decode"] >= 0.03


def test_metric_direction_and_value_are_checked(tmp_path: Path) -> None:
    """ctx.metric refuses a direction other than high/low and non-finite values."""
    ctx = make_ctx(tmp_path)
    ctx.metric("iou", 0.9, better="high")
    with pytest.raises(ValueError, match="better"):
        ctx.metric("iou", 0.9, better="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        ctx.metric("iou", float("nan"))
    assert [(m.name, m.value) for m in ctx.metrics] == [("iou", 0.9)]


def test_a_metric_declares_its_kind_and_tolerance(tmp_path: Path) -> None:
    """What the harness compares by: a timing is compared as samples, a tolerance bounds how
    much worse it may get; nonsense is refused where it is written."""
    ctx = make_ctx(tmp_path)
    ctx.metric("iou", 0.9, tolerance=rb.Tolerance(absolute=0.01))
    ctx.metric("infer_ms", 12.0, better="low", kind="timing")
    assert [(m.kind, m.tolerance) for m in ctx.metrics] == [
        ("quality", rb.Tolerance(absolute=0.01, relative=0.0)),
        ("timing", None),
    ]
    with pytest.raises(ValueError, match="kind"):
        ctx.metric("iou", 0.9, kind="speed")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"rb\.Tolerance"):
        ctx.metric("iou", 0.9, tolerance=0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=">= 0"):
        rb.Tolerance(relative=-0.1)
    with pytest.raises(TypeError, match="number"):
        rb.Tolerance(absolute="0.1")  # type: ignore[arg-type]


def test_a_caught_outer_timeout_still_ends_the_outer_block(tmp_path: Path) -> None:
    """Catching StepTimeout inside a block cannot swallow that block's budget."""
    ctx = make_ctx(tmp_path)

    def swallowing() -> None:
        with ctx.timeout("outer", 0.1):
            try:
                with ctx.timeout("inner", 10):
                    time.sleep(2)
            except rb.StepTimeout:
                pass
            time.sleep(0.5)

    started = time.monotonic()
    with pytest.raises(rb.StepTimeout) as caught:
        swallowing()
    assert caught.value.name == "outer"
    assert time.monotonic() - started < 1


def test_blocks_in_other_threads_are_measured_not_enforced(tmp_path: Path) -> None:
    """A block opened in a worker thread never fires the main thread's alarm."""
    ctx = make_ctx(tmp_path)

    def background() -> None:
        with ctx.timeout("bg", 0.05):
            time.sleep(0.2)

    thread = threading.Thread(target=background)
    with ctx.timeout("main", 5):
        thread.start()
        thread.join()
        time.sleep(0.1)
    assert ctx.timeouts.timings["bg"] >= 0.2
