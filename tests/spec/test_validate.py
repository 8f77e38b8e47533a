"""Hand-written or edited JSON specs get every problem with its JSON path."""

from __future__ import annotations

import json
from typing import Any

from rainbow.spec import schema
from rainbow.spec.canonical import compute_hash, spec_to_dict
from rainbow.spec.models import ModuleInterface, PortSpec
from rainbow.spec.validate import parse, validate
from rainbow.spec.wiring import WiringPolicy

SEGMENT = ModuleInterface(
    name="segment",
    inputs={"image": PortSpec(type="asset")},
    outputs={"mask": PortSpec(type="asset")},
)


def spec_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": 1,
        "name": "demo",
        "inputs": {"photo": {"type": "asset"}},
        "outputs": {"mask": {"step": "b", "output": "mask"}},
        "timeout": 60,
        "steps": [
            {
                "id": "a",
                "module": "segment",
                "version": "1.2",
                "inputs": {"image": {"input": "photo"}},
                "retries": 1,
                "timeout": 10,
            },
            {
                "id": "b",
                "module": "segment",
                "version": "latest",
                "inputs": {"image": {"step": "a", "output": "mask"}},
                "retries": 1,
                "timeout": 10,
            },
        ],
    }
    data.update(changes)
    return data


def lookup(name: str, version: str) -> ModuleInterface | None:
    return SEGMENT if name == "segment" else None


def test_shipped_json_schema_is_generated_from_the_models() -> None:
    """The shipped pipeline.schema.json equals what the pydantic models generate (`make schema`)."""
    assert schema.shipped() == schema.generate(), "stale schema: run `make schema`"


def test_a_valid_spec_passes_and_gets_its_hash() -> None:
    """A well-formed spec parses without problems and carries its content hash."""
    spec, problems = validate(json.dumps(spec_data()), lookup)
    assert problems == []
    assert spec is not None
    assert spec.spec_hash == compute_hash(spec_to_dict(spec))


def test_the_hash_ignores_how_numbers_are_spelled() -> None:
    """A timeout written 60 or 60.0 is the same spec with the same hash."""
    as_int, _ = validate(json.dumps(spec_data(timeout=60)), lookup)
    as_float, _ = validate(json.dumps(spec_data(timeout=60.0)), lookup)
    assert as_int is not None and as_float is not None
    assert as_int.spec_hash == as_float.spec_hash


def test_invalid_json_reports_the_line() -> None:
    """Broken JSON is RB-E001 with the line of the error."""
    spec, problems = parse('{\n  "name": "x",\n  oops\n}', file="p.json")
    assert spec is None
    assert (problems[0].code, problems[0].location.line) == ("RB-E001", 3)


def test_schema_errors_carry_json_paths() -> None:
    """Each schema violation is RB-E002 at the JSON path of the offending value."""
    data = spec_data()
    data["steps"][1]["retries"] = -1
    data["steps"][0]["colour"] = "red"
    del data["timeout"]
    _, problems = parse(json.dumps(data))
    found = {(p.code, p.location.json_path) for p in problems}
    assert ("RB-E002", "$.steps[1].retries") in found
    assert ("RB-E002", "$.steps[0]") in found
    assert ("RB-E002", "$") in found


def test_timeouts_and_retries_are_bounded_so_no_clock_overflows() -> None:
    """A timeout over 30 days or more than 100 retries is RB-E002 at its path: a deadline of
    1e300 s would overflow every engine's clock and the databases' dates."""
    data = spec_data()
    data["timeout"] = 1e300
    data["steps"][0]["timeout"] = 31 * 24 * 3600
    data["steps"][1]["retries"] = 101
    _, problems = parse(json.dumps(data))
    found = {(p.code, p.location.json_path) for p in problems}
    assert {
        ("RB-E002", "$.timeout"),
        ("RB-E002", "$.steps[0].timeout"),
        ("RB-E002", "$.steps[1].retries"),
    } <= found


def test_a_newer_schema_version_is_refused_clearly() -> None:
    """A spec from a newer Rainbow is RB-E003, not a schema error avalanche."""
    _, problems = parse(json.dumps(spec_data(schema=2)))
    assert [p.code for p in problems] == ["RB-E003"]


def test_an_edited_spec_is_detected_by_its_hash() -> None:
    """A spec_hash that does not match the content is RB-E004 at $.spec_hash."""
    data = spec_data()
    spec, _ = validate(json.dumps(data), lookup)
    assert spec is not None
    data["spec_hash"] = spec.spec_hash
    data["timeout"] = 61
    _, problems = validate(json.dumps(data), lookup)
    assert [(p.code, p.location.json_path) for p in problems] == [("RB-E004", "$.spec_hash")]


def test_wiring_problems_of_a_json_spec_have_paths() -> None:
    """Unknown step, unknown output, unknown input and cycles are reported at their paths."""
    data = spec_data()
    data["steps"][0]["inputs"]["image"] = {"step": "b", "output": "mask"}
    data["steps"][1]["inputs"]["image"] = {"step": "a", "output": "masque"}
    data["outputs"] = {"x": {"step": "zz", "output": "mask"}, "y": {"input": "nope"}}
    _, problems = validate(json.dumps(data), lookup)
    found = {(p.code, p.location.json_path) for p in problems}
    assert ("RB-E010", "$.steps[1].inputs.image") in found
    assert ("RB-E011", "$.outputs.x") in found
    assert ("RB-E012", "$.outputs.y") in found
    assert any(code == "RB-E013" for code, _ in found)


def test_unknown_modules_are_warnings_when_validating_without_code() -> None:
    """Validating with no module code says what it could not check (RB-W002) and passes."""
    _, problems = validate(json.dumps(spec_data()), lambda name, version: None)
    assert {p.code for p in problems} == {"RB-W002"}
    _, strict = validate(
        json.dumps(spec_data()), lambda n, v: None, policy=WiringPolicy(unknown_module="error")
    )
    assert {p.code for p in strict} == {"RB-E017"}
