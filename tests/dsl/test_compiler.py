"""The DSL compiles plain pipeline functions to canonical, checked specs."""

from __future__ import annotations

import inspect
import json
from typing import TypedDict

import pytest

import rainbow as rb
from rainbow.diagnostics import Diagnostic
from rainbow.dsl.compiler import compile_pipeline
from rainbow.errors import DiagnosticError
from rainbow.spec.canonical import dumps


class Normalized(TypedDict):
    image: rb.Asset
    width: int


class Segmented(TypedDict):
    mask: rb.Asset


@rb.module(name="normalize", retries=2, timeout=30)
def normalize(ctx: rb.Context, photo: rb.Asset, max_side: int = 512) -> Normalized:
    raise NotImplementedError


@rb.module(name="segment", retries=3, timeout=120)
def segment(ctx: rb.Context, image: rb.Asset, threshold: float = 0.5) -> Segmented:
    raise NotImplementedError


@rb.module(name="loose")
def loose(ctx: rb.Context, image: rb.Asset):  # type: ignore[no-untyped-def]
    raise NotImplementedError


@rb.pipeline(name="masks")
def masks(image: rb.Asset):
    seg = rb.step("segment@latest", image=image)
    return {"mask": seg.mask}


@rb.pipeline(name="room-scan", timeout=600)
def room_scan(photo: rb.Asset):
    norm = rb.step("normalize@1.0", photo=photo)
    seg = rb.step("segment@latest", image=norm.image, retries=5)
    left = masks(image=norm.image)
    right = masks(image=seg.mask)
    return {"mask": seg.mask, "left": left["mask"], "right": right["mask"]}


def errors_of(pipeline: rb.PipelineDef) -> list[Diagnostic]:
    with pytest.raises(rb.DiagnosticError) as caught:
        compile_pipeline(pipeline)
    return caught.value.diagnostics


def line_of(text: str, fn: object) -> int:
    source, start = inspect.getsourcelines(fn)  # type: ignore[arg-type]
    return start + next(i for i, line in enumerate(source) if text in line)


def test_compile_produces_the_documented_top_level_fields() -> None:
    """The spec holds schema, name, inputs, outputs, timeout, spec_hash and steps."""
    spec = rb.compile(room_scan)
    assert set(spec) == {"schema", "name", "inputs", "outputs", "timeout", "spec_hash", "steps"}
    assert spec["name"] == "room-scan"
    assert spec["timeout"] == 600
    assert spec["inputs"]["photo"]["type"] == "asset"
    first = spec["steps"][0]
    assert first == {
        "id": "normalize",
        "module": "normalize",
        "version": "1.0",
        "inputs": {"photo": {"input": "photo"}},
        "retries": 2,
        "timeout": 30.0,
    }


def test_step_options_override_module_defaults() -> None:
    """rb.step(..., retries=5) beats the module's retries; the timeout stays the module's."""
    step = rb.compile(room_scan)["steps"][1]
    assert (step["retries"], step["timeout"]) == (5, 120.0)


def test_sub_pipeline_used_twice_gets_distinct_readable_ids() -> None:
    """Inlined sub-pipeline steps are prefixed by the sub-pipeline's name, numbered on reuse."""
    spec = rb.compile(room_scan)
    assert [s["id"] for s in spec["steps"]] == [
        "normalize",
        "segment",
        "masks.segment",
        "masks-2.segment",
    ]
    assert spec["outputs"]["right"] == {"step": "masks-2.segment", "output": "mask"}
    assert spec["steps"][3]["inputs"]["image"] == {"step": "segment", "output": "mask"}


def test_a_named_sub_pipeline_prefixes_its_steps_with_that_name() -> None:
    """``masks.named("floor")`` inlines masks under floor.*; reusing a name still numbers it."""

    @rb.pipeline(name="named")
    def named(photo: rb.Asset):
        whole = masks(image=photo)
        floor = masks.named("floor")(image=whole["mask"])
        again = masks.named("floor")(image=floor["mask"])
        return {"floor": floor["mask"], "again": again["mask"]}

    spec = rb.compile(named)
    assert [s["id"] for s in spec["steps"]] == ["masks.segment", "floor.segment", "floor-2.segment"]
    assert spec["outputs"]["floor"] == {"step": "floor.segment", "output": "mask"}
    assert spec["name"] == "named"


def test_a_numbered_scope_never_reuses_a_name_given_explicitly() -> None:
    """masks, then masks named masks-2, then masks again: the third becomes masks-3."""

    @rb.pipeline(name="crowded")
    def crowded(photo: rb.Asset):
        masks(image=photo)
        masks.named("masks-2")(image=photo)
        masks(image=photo)

    ids = [s["id"] for s in rb.compile(crowded)["steps"]]
    assert ids == ["masks.segment", "masks-2.segment", "masks-3.segment"]


def test_renaming_a_pipeline_outside_a_pipeline_says_where_to_do_it() -> None:
    """``masks.named("floor")`` at top level is RB-E023 at that line: rename in @rb.pipeline."""
    with pytest.raises(rb.DiagnosticError) as caught:
        masks.named("floor")
    (problem,) = caught.value.diagnostics
    assert problem.code == "RB-E023"
    assert problem.location.file == __file__
    assert "@rb.pipeline(name=...)" in (problem.hint or "")


@pytest.mark.parametrize("bad_name", ["Floor Mask", "floor\n", ""])
def test_a_sub_pipeline_name_that_is_not_an_id_is_reported_where_it_is_given(
    bad_name: str,
) -> None:
    """``.named("Floor Mask")`` fails at the user's line with the allowed characters."""

    @rb.pipeline(name="badly-named")
    def badly_named(photo: rb.Asset):
        return masks.named(bad_name)(image=photo)

    (problem,) = errors_of(badly_named)
    assert problem.code == "RB-E021"
    assert problem.message == f"pipeline 'masks' cannot be named {bad_name!r}"
    assert problem.location.line == line_of("masks.named(bad_name)", badly_named.fn)
    assert "lower case letters" in (problem.hint or "")


def test_same_input_compiles_to_the_same_bytes() -> None:
    """Compiling twice gives byte-identical canonical JSON with a stable hash."""
    first, _ = compile_pipeline(room_scan)
    second, _ = compile_pipeline(room_scan)
    assert dumps(first) == dumps(second)
    assert first.spec_hash.startswith("sha256:")
    assert json.loads(dumps(first))["spec_hash"] == first.spec_hash


def test_unknown_output_names_the_file_and_line_with_a_hint() -> None:
    """Reading an output a module does not have is RB-E010 at the line that reads it."""

    @rb.pipeline(name="typo")
    def typo(photo: rb.Asset):
        norm = rb.step("normalize@1.0", photo=photo)
        seg = rb.step("segment@latest", image=norm.imag)
        return {"mask": seg.mask}

    (problem,) = errors_of(typo)
    assert problem.code == "RB-E010"
    assert problem.location.file == __file__
    assert problem.location.line == line_of("norm.imag)", typo.fn)
    assert problem.hint == "did you mean 'image'?"


def test_missing_extra_wrong_type_and_unknown_module_are_all_reported() -> None:
    """All wiring problems of a pipeline come back at once, each with its own id."""

    @rb.pipeline(name="broken")
    def broken(photo: rb.Asset):
        rb.step("normalize@1.0", max_side="big")
        rb.step("segment@latest", image=photo, colour="red")
        rb.step("segmnt@latest", image=photo)
        return {}

    codes = sorted(p.code for p in errors_of(broken))
    assert codes == ["RB-E014", "RB-E015", "RB-E016", "RB-E017"]
    unknown = next(p for p in errors_of(broken) if p.code == "RB-E017")
    assert "did you mean 'segment'?" in (unknown.hint or "")
    assert unknown.location.line == line_of('"segmnt@latest"', broken.fn)


def test_unpinned_module_reference_is_refused() -> None:
    """A module reference without @version is RB-E019 with a hint showing both pin forms."""

    @rb.pipeline(name="unpinned")
    def unpinned(photo: rb.Asset):
        return {"mask": rb.step("segment", image=photo).mask}

    (problem,) = errors_of(unpinned)
    assert problem.code == "RB-E019"
    assert "segment@latest" in (problem.hint or "")


def test_undeclared_outputs_are_reported_as_unchecked_not_wrong() -> None:
    """Outputs of a module without a return annotation give warning RB-W001, not an error."""

    @rb.pipeline(name="unchecked")
    def unchecked(photo: rb.Asset):
        found = rb.step("loose@latest", image=photo)
        return {"anything": found.whatever}

    _, warnings = compile_pipeline(unchecked)
    assert [w.code for w in warnings] == ["RB-W001"]


def test_passing_a_whole_step_or_a_non_json_value_is_an_error() -> None:
    """rb.step() inputs must be outputs, pipeline inputs or JSON literals (RB-E022)."""

    @rb.pipeline(name="values")
    def values(photo: rb.Asset):
        norm = rb.step("normalize@1.0", photo=photo)
        rb.step("segment@latest", image=norm, threshold=object())
        return {}

    assert [p.code for p in errors_of(values)] == ["RB-E022", "RB-E022"]


def test_step_outside_a_compile_explains_itself() -> None:
    """Calling rb.step() or a pipeline directly raises RB-E023 with a hint."""
    with pytest.raises(rb.DiagnosticError) as caught:
        rb.step("segment@latest")
    assert caught.value.diagnostics[0].code == "RB-E023"
    with pytest.raises(rb.DiagnosticError):
        room_scan(photo="x.jpg")


def test_a_bug_in_the_pipeline_function_points_at_the_users_line() -> None:
    """An exception while tracing becomes ModuleLoadError naming the user's file and line."""

    @rb.pipeline(name="buggy")
    def buggy(photo: rb.Asset):
        norm = rb.step("normalize@1.0", photo=photo)
        return {"width": norm.width + 1}

    with pytest.raises(rb.UserError) as caught:
        compile_pipeline(buggy)
    assert f"{__file__}:{line_of('norm.width + 1', buggy.fn)}" in str(caught.value)


def test_pipeline_must_return_a_dict() -> None:
    """Returning something other than a dict of handles is RB-E021."""

    @rb.pipeline(name="tuple-out")
    def tuple_out(photo: rb.Asset):
        return rb.step("segment@latest", image=photo).mask

    assert errors_of(tuple_out)[0].code == "RB-E021"


def test_structural_and_wiring_problems_are_reported_together() -> None:
    """An unpinned module, a wrongly typed literal and an unknown output come back in one go."""

    @rb.pipeline(name="many")
    def many(photo: rb.Asset):
        norm = rb.step("normalize", photo=photo, max_side="big")
        return {"mask": norm.maks}

    assert sorted(p.code for p in errors_of(many)) == ["RB-E016", "RB-E019", "RB-E020"]


def test_invalid_step_options_point_at_the_step() -> None:
    """A bad id, negative retries or zero timeout is RB-E024 at the rb.step line."""

    @rb.pipeline(name="options")
    def options(photo: rb.Asset):
        rb.step("normalize@1.0", photo=photo, id="Left Floor", retries=-1, timeout=0)
        return {}

    problems = errors_of(options)
    assert [p.code for p in problems] == ["RB-E024"] * 3
    assert {p.location.line for p in problems} == {line_of('id="Left Floor"', options.fn)}


def test_positional_sub_pipeline_call_names_its_inputs() -> None:
    """Calling a sub-pipeline positionally is refused with the keyword form as the hint."""

    @rb.pipeline(name="positional")
    def positional(photo: rb.Asset):
        return masks(photo)

    (problem,) = errors_of(positional)
    assert problem.hint == "name its inputs: masks(image=...)"


def test_a_timeout_past_thirty_days_is_a_diagnostic_at_the_users_line() -> None:
    """rb.step(timeout=1e12) and @rb.pipeline(timeout=1e12) name the user's line, never a
    traceback from deep in the engine."""
    with pytest.raises(DiagnosticError) as declared:

        @rb.pipeline(name="forever", timeout=1e12)
        def forever(x: int):
            return {}

    assert declared.value.diagnostics[0].code == "RB-E021"

    @rb.pipeline(name="long-step")
    def long_step(x: int):
        return {"y": rb.step("add@latest", value=x, timeout=1e12).value}

    with pytest.raises(DiagnosticError) as compiled:
        compile_pipeline(long_step)
    assert "RB-E024" in {d.code for d in compiled.value.diagnostics}
