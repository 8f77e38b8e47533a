"""The no-op module and diamond pipeline both benchmarks run."""

from __future__ import annotations

from typing import TypedDict

import rainbow as rb


class Out(TypedDict):
    x: int


@rb.module(name="noop", retries=0, timeout=60)
def noop(ctx: rb.Context, x: int = 0, y: int = 0) -> Out:
    return {"x": x + y}


@rb.pipeline(name="diamond", timeout=600)
def diamond(x: int):
    a = rb.step("noop@latest", x=x)
    b = rb.step("noop@latest", x=a.x)
    c = rb.step("noop@latest", x=a.x)
    d = rb.step("noop@latest", x=a.x)
    e = rb.step("noop@latest", x=b.x, y=c.x)
    f = rb.step("noop@latest", x=e.x, y=d.x)
    return {"x": f.x}


@rb.pipeline(name="chain", timeout=600)
def chain(x: int):
    """bench/conductor_capacity.py: three steps in a row (a → b → c), no worker needed."""
    a = rb.step("noop@latest", x=x)
    b = rb.step("noop@latest", x=a.x)
    c = rb.step("noop@latest", x=b.x)
    return {"x": c.x}
