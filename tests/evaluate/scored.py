"""A pipeline whose quality the tests turn up and down: `score` reports `quality` = x / 10
(less `penalty`), declared with a tolerance, and a timing; `fail` makes a unit fail."""

from __future__ import annotations

from typing import TypedDict

import rainbow as rb
from rainbow.errors import PermanentError


class Scored(TypedDict):
    quality: float


@rb.module(name="score", retries=0, timeout=10)
def score(ctx: rb.Context, x: int, penalty: float = 0.0, fail: bool = False) -> Scored:
    if fail:
        raise PermanentError("this unit is made to fail")
    quality = x / 10 - penalty
    ctx.metric("quality", quality, tolerance=rb.Tolerance(absolute=0.05))
    ctx.metric("work_ms", 1.0 + x, better="low", kind="timing")
    return {"quality": quality}


@rb.pipeline(name="scored")
def scored(x: int, penalty: float = 0.0, fail: bool = False):
    return {"quality": rb.step("score@latest", x=x, penalty=penalty, fail=fail).quality}
