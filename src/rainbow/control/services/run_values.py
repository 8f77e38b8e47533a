"""A run's stored values (inputs, outputs, each step's outputs) in answers of bounded size.

Workers cap what a module returns (``RAINBOW_MAX_OUTPUT_BYTES``), but one run's detail shows
many values (every step's outputs, the run's inputs and outputs), and rows recorded before the
cap, or by a more generous worker, may hold anything. So a run's detail shows a value inline
only if it is small and the answer's budget has room; any other is replaced by a marker
``{"$elided": {"bytes": N, "url": "/api/runs/…"}}`` naming its size and where to get it whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from rainbow.control.models import Run, StepRun
from rainbow.control.services.refusals import NotFound
from rainbow.control.services.run_service import get_run
from rainbow.storable import json_size

ELIDED = "$elided"
MAX_VALUE_BYTES = 64 * 1024
"""The largest value a run's detail shows inline."""
MAX_SHOWN_BYTES = 1024 * 1024
"""How much of all the values together one run's detail shows inline."""


class Budget:
    """What one answer may still show inline; values past it become markers."""

    def __init__(self, total: int = MAX_SHOWN_BYTES, each: int = MAX_VALUE_BYTES) -> None:
        self.left = total
        self.each = each

    def show(
        self,
        values: Mapping[str, Any] | None,
        run_id: str,
        part: Literal["inputs", "outputs"],
        step: str | None = None,
    ) -> dict[str, Any] | None:
        """``values`` (the run's ``part``, or its ``step``'s outputs) with each one too big for
        the answer replaced by a marker."""
        if values is None:
            return None
        shown: dict[str, Any] = {}
        for name, value in values.items():
            size = json_size(value, allow_nan=True)
            if size <= min(self.each, self.left):
                self.left -= size
                shown[name] = value
            else:
                url = value_url(run_id, part, name, step)
                shown[name] = {ELIDED: {"bytes": size, "url": url}}
        return shown


def value_url(run_id: str, part: str, name: str, step: str | None = None) -> str:
    where = f"steps/{quote(step, safe='')}/{part}" if step is not None else part
    return f"/api/runs/{quote(run_id, safe='')}/{where}/{quote(name, safe='')}"


def one_value(
    run_id: str, part: Literal["inputs", "outputs"], name: str, step: str | None = None
) -> Any:
    """One stored value of a run, whole: what a marker in the run's detail points to."""
    if step is None:
        held = Run.objects.filter(run_id=run_id).values_list(part, flat=True).first()
    else:
        rows = StepRun.objects.filter(run__run_id=run_id, step=step)
        held = rows.values_list("outputs", flat=True).first()
    if isinstance(held, dict) and name in held:
        return held[name]
    get_run(run_id)  # no such run: its own 404
    what = (
        f"step {step!r} of run {run_id} has no output"
        if step
        else f"run {run_id} has no {part[:-1]}"
    )
    raise NotFound(f"{what} {name!r}", hint=f"GET /api/runs/{run_id} lists its values")
