"""A module that reads its input asset, and a pipeline around it, for the containment tests."""

from __future__ import annotations

from typing import Any, TypedDict

import rainbow as rb


class Head(TypedDict):
    head: str


@rb.module(name="peek", retries=0, timeout=10)
def peek(ctx: rb.Context, image: rb.Asset) -> Head:
    return {"head": image.path.read_bytes()[:64].decode(errors="replace")}


@rb.pipeline(name="peek")
def peek_pipeline(photo: rb.Asset):
    return {"head": rb.step("peek@1.0", image=photo).head}


@rb.module(name="sniff", retries=0, timeout=10)
def sniff(ctx: rb.Context, thing: Any = None) -> Head:
    """Reads ``thing`` if the engine handed it over as an asset (an ``any`` input may be one)."""
    return {"head": repr(thing.path.read_bytes()[:64] if isinstance(thing, rb.Asset) else thing)}


@rb.pipeline(name="sniff-literal")
def sniff_literal():
    return {"head": rb.step("sniff@1.0", thing={"$asset": "/etc/passwd"}).head}
