"""The wiring check: linear in the spec's size, with a cycle named step by step."""

from __future__ import annotations

from typing import Any

from rainbow.spec.models import ModuleInterface, OutputRef, PipelineSpec, PortSpec, StepSpec
from rainbow.spec.wiring import check

ADD = ModuleInterface(
    name="add", inputs={"x": PortSpec(type="any")}, outputs={"value": PortSpec(type="any")}
)


class CountedId(str):
    """A step id that counts how often the check hashes or compares it: its operations."""

    operations = 0

    def __hash__(self) -> int:
        CountedId.operations += 1
        return super().__hash__()

    def __eq__(self, other: object) -> bool:
        CountedId.operations += 1
        return super().__eq__(other)


def chain(length: int, *, back_to_start: bool = False) -> PipelineSpec:
    """Steps s0 <- s1 <- ... each reading the one before; ids built unvalidated, so counted."""
    steps = []
    for i in range(length):
        source = length - 1 if i == 0 and back_to_start else i - 1
        inputs: dict[str, Any] = (
            {"x": OutputRef.model_construct(step=CountedId(f"s{source}"), output="value")}
            if source >= 0
            else {}
        )
        steps.append(
            StepSpec.model_construct(
                id=CountedId(f"s{i}"),
                module="add",
                version="1.0",
                inputs=inputs,
                retries=0,
                timeout=1.0,
            )
        )
    return PipelineSpec.model_construct(
        schema_=1, name="chain", inputs={}, outputs={}, timeout=60.0, spec_hash="", steps=steps
    )


def operations_to_check(spec: PipelineSpec) -> int:
    CountedId.operations = 0
    check(spec, lambda name, version: ADD)
    return CountedId.operations


def test_checking_twice_the_steps_costs_twice_the_operations() -> None:
    """Hashes and comparisons of step ids grow linearly: a chain of 5,000 steps is checked with
    about twice the operations of 2,500 (the quadratic cycle check took four times as many)."""
    small, large = operations_to_check(chain(2_500)), operations_to_check(chain(5_000))
    assert small > 2_500
    assert large / small < 2.5


def test_a_cycle_is_reported_once_with_its_steps_in_order() -> None:
    """A cycle through a whole chain is one RB-E013 naming each step feeding the next."""
    problems = check(chain(3, back_to_start=True), lambda name, version: ADD)
    (cycle,) = [p for p in problems if p.code == "RB-E013"]
    assert cycle.message == "steps s0 → s1 → s2 → s0 feed each other in a cycle"
    assert cycle.location.json_path == "$.steps[0].inputs"


def test_hints_about_a_missing_step_stay_short_in_a_large_spec() -> None:
    """Among thousands of ids a hint neither lists them all nor compares them with every one."""
    spec = chain(3_000)
    steps = list(spec.steps)
    steps[5] = steps[5].model_copy(update={"inputs": {"x": OutputRef(step="nope", output="v")}})
    problems = check(spec.model_copy(update={"steps": steps}), lambda name, version: ADD)
    (missing,) = [p for p in problems if p.code == "RB-E011"]
    assert missing.hint is not None and len(missing.hint) < 200
