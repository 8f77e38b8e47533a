"""A module whose import is slow, as a model-loading module's would be."""

from __future__ import annotations

import time
from typing import TypedDict

import rainbow as rb

time.sleep(1.5)


class Done(TypedDict):
    value: int


@rb.module(name="after-slow-import", retries=0, timeout=1)
def after_slow_import(ctx: rb.Context) -> Done:
    return {"value": 1}


@rb.pipeline(name="slow-import")
def slow_import():
    return {"value": rb.step("after-slow-import@latest").value}
