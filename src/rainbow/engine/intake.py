"""A worker's result as the store can record it: what both executors apply before recording one.

Workers already check what their module returns, but the executors cannot trust that: a worker
of an older Rainbow, a command module's raw output or a hand-made event reaches them too, and one
value the store refuses must fail only its own attempt, never the batch it arrived with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from rainbow.sdk.messages import ErrorInfo, MetricInfo, Result
from rainbow.sdk.outputs import outputs_problem
from rainbow.settings import DEFAULT_MAX_OUTPUT_BYTES
from rainbow.storable import bounded_text, storable_name


def checked_result(
    result: Result, module: str, *, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
) -> Result:
    """``result`` with its free text made storable, and a success whose outputs the store cannot
    hold turned into a permanent failure of the attempt that says why."""
    error = result.get("error")
    checked: Result = {
        **result,
        "outputs": result.get("outputs"),
        "metrics": [m for m in map(_metric, result.get("metrics") or []) if m is not None],
        "timings": {storable_name(str(k)): v for k, v in (result.get("timings") or {}).items()},
        "error": _error(error) if error is not None else None,
    }
    if result["status"] != "succeeded":
        return checked
    outputs = result.get("outputs") or {}
    problem = (
        outputs_problem(outputs, module, max_output_bytes)
        if isinstance(outputs, Mapping)
        else f"module {module!r} returned outputs that are not a JSON object"
    )
    if problem is None:
        return checked
    return {
        **checked,
        "status": "failed",
        "outputs": None,
        "error": ErrorInfo(
            type="UnstorableOutput", message=problem, traceback=None, retryable=False, delay=None
        ),
    }


def _metric(metric: Any) -> MetricInfo | None:
    """The metric as the store keeps it, or None for one no store could (not a number)."""
    if not isinstance(metric, Mapping):
        return None
    value = metric.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    better: Literal["high", "low"] = "low" if metric.get("better") == "low" else "high"
    kind: Literal["quality", "timing"] = "timing" if metric.get("kind") == "timing" else "quality"
    return MetricInfo(
        name=storable_name(str(metric.get("name"))),
        value=value,
        better=better,
        kind=kind,
        tolerance_absolute=_bound(metric.get("tolerance_absolute")),
        tolerance_relative=_bound(metric.get("tolerance_relative")),
    )


def _bound(value: Any) -> float | None:
    """A declared tolerance the store can keep, or None (undeclared, or not a bound at all)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _error(error: ErrorInfo) -> ErrorInfo:
    traceback, delay = error.get("traceback"), error.get("delay")
    return ErrorInfo(
        type=storable_name(str(error.get("type") or "Error"), 300),
        message=bounded_text(str(error.get("message") or "")),
        traceback=bounded_text(traceback) if isinstance(traceback, str) else None,
        retryable=bool(error.get("retryable", True)),
        delay=None if isinstance(delay, bool) or not isinstance(delay, int | float) else delay,
    )
