"""Modules and pipelines the local-engine tests run in real worker processes."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from typing import TypedDict

import rainbow as rb


class Value(TypedDict):
    value: int
    started: float
    finished: float


@rb.module(name="add", retries=0, timeout=10)
def add(ctx: rb.Context, value: int = 0, other: int = 0, pause: float = 0.0) -> Value:
    started = time.time()
    ctx.log.info("adding", value=value, other=other)
    time.sleep(pause)
    ctx.metric("value", value + other + 1, better="high")
    return {"value": value + other + 1, "started": started, "finished": time.time()}


@rb.module(name="flaky", retries=3, timeout=10)
def flaky(ctx: rb.Context, value: int = 0, fail_times: int = 2) -> Value:
    if ctx.attempt <= fail_times:
        raise ConnectionError(f"attempt {ctx.attempt}: service unavailable")
    return {"value": value, "started": 0.0, "finished": 0.0}


@rb.module(name="crash", retries=1, timeout=10)
def crash(ctx: rb.Context, how: str = "kill") -> Value:
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "segfault":
        ctypes.string_at(0)
    if how == "exit":
        os._exit(7)
    return {"value": 0, "started": 0.0, "finished": 0.0}


@rb.module(name="stubborn", retries=0, timeout=0.5)
def stubborn(ctx: rb.Context, seconds: float = 30) -> Value:
    # Blocking SIGALRM makes the soft timeout useless: only the hard kill can stop this.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(seconds)
    return {"value": 0, "started": 0.0, "finished": 0.0}


@rb.module(name="sleepy", retries=1, timeout=0.3)
def sleepy(ctx: rb.Context, seconds: float = 30) -> Value:
    time.sleep(seconds)
    return {"value": 0, "started": 0.0, "finished": 0.0}


@rb.module(name="refuse", retries=5, timeout=10)
def refuse(ctx: rb.Context) -> Value:
    raise rb.PermanentError("this input can never work")


@rb.pipeline(name="diamond")
def diamond(x: int, pause: float = 0.0):
    a = rb.step("add@latest", value=x)
    b = rb.step("add@latest", value=a.value, pause=pause)
    c = rb.step("add@latest", value=a.value, pause=pause)
    d = rb.step("add@latest", value=a.value, pause=pause)
    e = rb.step("add@latest", value=b.value, other=c.value)
    f = rb.step("add@latest", value=e.value, other=d.value)
    return {"result": f.value}


@rb.pipeline(name="single")
def single(x: int, pause: float = 0.0):
    return {"result": rb.step("add@latest", value=x, pause=pause).value}


@rb.pipeline(name="single-retried")
def single_retried(x: int, pause: float = 0.0):
    return {"result": rb.step("add@latest", value=x, pause=pause, retries=1).value}


@rb.pipeline(name="flaky-chain")
def flaky_chain(x: int):
    first = rb.step("flaky@latest", value=x, fail_times=2)
    return {"result": rb.step("add@latest", value=first.value).value}


@rb.pipeline(name="crashes")
def crashes(how: str):
    return {"result": rb.step("crash@latest", how=how).value}


@rb.pipeline(name="stubborn")
def stubborn_pipeline(seconds: float):
    return {"result": rb.step("stubborn@latest", seconds=seconds).value}


@rb.pipeline(name="sleepy")
def sleepy_pipeline(seconds: float):
    return {"result": rb.step("sleepy@latest", seconds=seconds).value}


@rb.pipeline(name="deadline", timeout=0.5)
def deadline(seconds: float):
    slow = rb.step("sleepy@latest", seconds=seconds, timeout=20)
    return {"result": rb.step("add@latest", value=slow.value).value}


@rb.pipeline(name="refusal")
def refusal():
    return {"result": rb.step("refuse@latest").value}


@rb.module(name="chatty", retries=0, timeout=10)
def chatty(ctx: rb.Context, lines: int = 1000) -> Value:
    for index in range(lines):
        print(f"chatty line {index}")
    return {"value": lines, "started": 0.0, "finished": 0.0}


@rb.pipeline(name="chatter")
def chatter(lines: int):
    return {"result": rb.step("chatty@latest", lines=lines).value}


@rb.pipeline(name="refusal-with-sibling")
def refusal_with_sibling():
    rb.step("add@latest", pause=0.3)
    rb.step("refuse@latest")
    return {}


class Text(TypedDict):
    text: str


@rb.module(name="nul", retries=0, timeout=10)
def nul(ctx: rb.Context, where: str = "nowhere") -> Text:
    """Puts a NUL character, which PostgreSQL cannot store, where it is asked to."""
    if where == "error":
        raise ValueError("bad\x00value")
    if where == "metric":
        ctx.metric("bad\x00name", 1.0, better="high")
    if where == "long metric name":
        ctx.metric("m" * 300, 1.0, better="high")  # longer than the store's column
    return {"text": "bad\x00value" if where == "output" else "clean"}


@rb.pipeline(name="nul-text")
def nul_text(where: str):
    return {"text": rb.step("nul@latest", where=where).text}
