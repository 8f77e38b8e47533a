"""@rb.module derives a typed interface from the signature, and explains what it cannot use."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

import rainbow as rb


class Out(TypedDict):
    mask: rb.Asset
    area: float
    labels: list[str]


def test_interface_from_signature_and_typed_dict() -> None:
    """Inputs, defaults and outputs come from type hints; calling the module calls the function."""

    @rb.module(name="seg", retries=1, timeout=5)
    def seg(
        ctx: rb.Context, image: rb.Asset, k: int = 3, opts: dict[str, Any] | None = None
    ) -> Out:
        return {"mask": image, "area": 1.0, "labels": [str(k)]}

    interface = seg.rainbow_interface
    assert {n: p.type for n, p in interface.inputs.items()} == {
        "image": "asset",
        "k": "integer",
        "opts": "object",
    }
    assert interface.inputs["k"].default == 3 and not interface.inputs["k"].required
    assert {n: p.type for n, p in (interface.outputs or {}).items()} == {
        "mask": "asset",
        "area": "number",
        "labels": "array",
    }
    assert (interface.retries, interface.timeout) == (1, 5.0)
    assert seg(None, rb.Asset("a.png"), k=4)["labels"] == ["4"]


def test_module_without_ctx_first_is_refused_with_a_hint() -> None:
    """The first parameter must be ctx; the error names the function's file and line."""
    with pytest.raises(rb.DiagnosticError) as caught:

        @rb.module(name="noctx")
        def noctx(image: rb.Asset) -> Out:
            raise NotImplementedError

    (problem,) = caught.value.diagnostics
    assert problem.code == "RB-E032"
    assert problem.location.file == __file__
    assert "ctx: rb.Context" in (problem.hint or "")


def test_types_that_cannot_travel_as_json_are_refused() -> None:
    """An input annotated with a non-JSON type is RB-E032 naming the input."""
    with pytest.raises(rb.DiagnosticError) as caught:

        @rb.module(name="bad-type")
        def bad_type(ctx: rb.Context, image: bytes) -> Out:
            raise NotImplementedError

    assert "'image'" in caught.value.diagnostics[0].message


def test_invalid_module_name_is_refused() -> None:
    """Module names are lower case identifiers usable in queue names."""
    with pytest.raises(rb.DiagnosticError):
        rb.module(name="Segment Floor")(lambda ctx: None)
