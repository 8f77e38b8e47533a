"""Pipelines pinned to versions, over the test modules, for the distributed tests."""

from __future__ import annotations

import rainbow as rb
from tests.engine import modules_for_tests  # noqa: F401  (the modules' interfaces)


@rb.pipeline(name="pair-v11")
def pair_v11(x: int):
    first = rb.step("add@1.1", value=x)
    return {"result": rb.step("add@1.1", value=first.value).value}


@rb.pipeline(name="pair-latest")
def pair_latest(x: int, pause: float = 0.0):
    first = rb.step("add@latest", value=x, pause=pause)
    return {"result": rb.step("add@latest", value=first.value, pause=pause).value}


@rb.pipeline(name="poison")
def poison():
    return {"result": rb.step("crash@latest", how="kill").value}


@rb.pipeline(name="hang")
def hang(seconds: float):
    return {"result": rb.step("sleepy@latest", seconds=seconds, timeout=2, retries=1).value}


@rb.pipeline(name="short-deadline", timeout=2)
def short_deadline(seconds: float):
    slow = rb.step("sleepy@latest", seconds=seconds, timeout=30, retries=0)
    return {"result": rb.step("add@latest", value=slow.value).value}


@rb.pipeline(name="deaf")
def deaf(seconds: float):
    return {"result": rb.step("stubborn@latest", seconds=seconds, timeout=2, retries=0).value}


@rb.pipeline(name="flaky-once")
def flaky_once(x: int):
    first = rb.step("flaky@latest", value=x, fail_times=1, retries=0)
    return {"result": rb.step("add@latest", value=first.value).value}


@rb.pipeline(name="in-time", timeout=5)
def in_time(seconds: float):
    return {"result": rb.step("sleepy@latest", seconds=seconds, timeout=30, retries=0).value}


@rb.pipeline(name="times-out-once")
def times_out_once(seconds: float):
    return {"result": rb.step("sleepy@latest", seconds=seconds, timeout=1, retries=0).value}
