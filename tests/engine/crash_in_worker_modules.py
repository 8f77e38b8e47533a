"""A module whose import kills every worker process (as a broken native library would there),
while it imports in the test process, which only needs its interface."""

from __future__ import annotations

import multiprocessing
import os
from typing import TypedDict

import rainbow as rb

if multiprocessing.current_process().name == "rainbow-worker":
    os._exit(3)


class Value(TypedDict):
    value: int


@rb.module(name="add", retries=0, timeout=10)
def add(ctx: rb.Context, value: int = 0, pause: float = 0.0) -> Value:
    return {"value": value}
