"""Specs beyond the limits, or holding what the store cannot hold, are refused first and clearly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rainbow.spec.limits import DEFAULT_LIMITS, SpecLimits, compact_size
from rainbow.spec.models import NAME_MAX_LENGTH, VERSION_MAX_LENGTH
from rainbow.spec.validate import from_data, parse
from tests.spec.test_validate import spec_data


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def codes(data: Any, limits: SpecLimits = DEFAULT_LIMITS) -> list[tuple[str, str | None]]:
    _, problems = from_data(data, limits=limits)
    return [(p.code, p.location.json_path) for p in problems]


def test_too_many_steps_is_the_one_problem_reported() -> None:
    """Over RAINBOW_MAX_SPEC_STEPS is RB-E005 at $.steps, before the schema validator runs."""
    data = spec_data()
    data["steps"][0]["colour"] = "red"  # a schema error the validator never gets to see
    assert codes(data, SpecLimits(max_steps=1)) == [("RB-E005", "$.steps")]
    _, problems = from_data(data, limits=SpecLimits(max_steps=1))
    assert "2 steps; at most 1" in problems[0].message
    assert "RAINBOW_MAX_SPEC_STEPS" in (problems[0].hint or "")


def test_too_many_bytes_counts_the_compact_json() -> None:
    """Over RAINBOW_MAX_SPEC_BYTES is RB-E005, measured the same however the spec is indented."""
    data = spec_data()
    size = compact_size(data)
    assert codes(data, SpecLimits(max_bytes=size)) == []
    assert codes(data, SpecLimits(max_bytes=size - 1)) == [("RB-E005", "$")]
    spec, problems = parse(json.dumps(data, indent=8), limits=SpecLimits(max_bytes=size))
    assert spec is not None and problems == []


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("a\x00b", "NUL character"),
        ("\ud800", "lone surrogate"),
        (float("nan"), "NaN or Infinity"),
        (nested(70), "deeper than 64"),
    ],
)
def test_values_the_store_cannot_hold_are_refused(literal: Any, reason: str) -> None:
    """A NUL, a lone surrogate, NaN or a deeply nested literal is RB-E006, never a stored row
    that PostgreSQL refuses later."""
    data = spec_data()
    data["steps"][0]["inputs"]["extra"] = {"value": literal}
    _, problems = from_data(data)
    assert [p.code for p in problems] == ["RB-E006"]
    assert reason in problems[0].message


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("[" * 100_000 + "]" * 100_000, "RB-E006", "nested too deeply"),
        (b'{"name": "\xff"}', "RB-E001", "not UTF-8"),
        ('{"timeout": ' + "9" * 5_000 + "}", "RB-E001", "not readable as JSON"),
        ('{"name": "x\\u0000"}', "RB-E006", "NUL character"),
    ],
)
def test_text_no_parser_should_choke_on_is_a_diagnostic(
    text: str | bytes, code: str, words: str
) -> None:
    """JSON nested 100,000 deep, bytes that are not UTF-8, a 5,000-digit number and an escaped
    NUL are each one diagnostic, not a RecursionError or a ValueError."""
    spec, problems = parse(text, file="spec.json")
    assert spec is None
    assert [p.code for p in problems] == [code]
    assert words in problems[0].message


@pytest.mark.parametrize(
    ("path", "edit"),
    [
        ("$.name", lambda d, long: d.update(name=long)),
        ("$.steps[0].id", lambda d, long: d["steps"][0].update(id=long)),
        ("$.steps[0].module", lambda d, long: d["steps"][0].update(module=long)),
        ("$.steps[0].version", lambda d, long: d["steps"][0].update(version="1." + "0" * 70)),
        ("$.inputs", lambda d, long: d["inputs"].update({long: {"type": "asset"}})),
        ("$.outputs", lambda d, long: d["outputs"].update({long: {"input": "photo"}})),
    ],
)
def test_names_are_as_long_as_the_store_keeps_at_most(path: str, edit: Any) -> None:
    """Names, ids, versions and port names longer than their columns are RB-E002 at their path,
    with a message that does not quote the whole name back."""
    data = spec_data()
    edit(data, "a" * 5_000)
    _, problems = from_data(data)
    found = [p for p in problems if p.location.json_path == path]
    assert [p.code for p in found] == ["RB-E002"], problems
    assert len(found[0].message) < 200
    assert f"at most {NAME_MAX_LENGTH}" in found[0].message or (
        f"at most {VERSION_MAX_LENGTH}" in found[0].message
    )


def test_the_longest_names_allowed_pass() -> None:
    """A pipeline name and a step id of exactly the column width are accepted."""
    data = spec_data(name="p" * NAME_MAX_LENGTH)
    data["steps"][1]["id"] = "b" * NAME_MAX_LENGTH
    data["outputs"]["mask"]["step"] = "b" * NAME_MAX_LENGTH
    assert codes(data) == []
