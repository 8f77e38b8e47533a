"""Validate a JSON spec: JSON syntax, the shipped JSON Schema, the schema version, the hash and
the wiring rules, returning every problem with its JSON path."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from rainbow.diagnostics import Diagnostic, Location
from rainbow.spec.canonical import compute_hash, spec_to_dict
from rainbow.spec.models import SPEC_SCHEMA_VERSION, PipelineSpec
from rainbow.spec.schema import shipped
from rainbow.spec.wiring import InterfaceLookup, WiringPolicy, check


def parse(text: str, *, file: str | None = None) -> tuple[PipelineSpec | None, list[Diagnostic]]:
    """Parse and structurally validate spec text; the spec is None when it cannot be used."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [
            Diagnostic(
                "RB-E001",
                f"not valid JSON: {exc.msg}",
                Location(file=file, line=exc.lineno),
                f"column {exc.colno}; a spec is written by `rainbow compile`",
            )
        ]
    return from_data(data, file=file)


def from_data(
    data: Any, *, file: str | None = None
) -> tuple[PipelineSpec | None, list[Diagnostic]]:
    newer = isinstance(data, dict) and isinstance(data.get("schema"), int)
    if newer and data["schema"] > SPEC_SCHEMA_VERSION:
        return None, [
            Diagnostic(
                "RB-E003",
                f"spec schema {data['schema']} is newer than this Rainbow understands "
                f"({SPEC_SCHEMA_VERSION})",
                Location(file=file, json_path="$.schema"),
                "upgrade Rainbow",
            )
        ]
    validator = jsonschema.Draft202012Validator(shipped())
    problems = [
        Diagnostic(
            "RB-E002",
            error.message,
            Location(file=file, json_path=error.json_path),
            _schema_hint(error),
        )
        for error in sorted(validator.iter_errors(data), key=lambda e: e.json_path)
    ]
    if problems:
        return None, problems
    spec = PipelineSpec.model_validate(data)
    # Hash the normalised form (3600 and 3600.0 are one timeout), as the compiler does.
    expected = compute_hash(spec_to_dict(spec))
    if spec.spec_hash and spec.spec_hash != expected:
        problems.append(
            Diagnostic(
                "RB-E004",
                "spec_hash does not match the spec's content: it was edited after compiling",
                Location(file=file, json_path="$.spec_hash"),
                "recompile with `rainbow compile`, or delete spec_hash to accept the edit",
            )
        )
    return spec.model_copy(update={"spec_hash": expected}), problems


VALIDATE_POLICY = WiringPolicy(unknown_module="warning")


def validate(
    text: str,
    lookup: InterfaceLookup,
    *,
    file: str | None = None,
    policy: WiringPolicy = VALIDATE_POLICY,
) -> tuple[PipelineSpec | None, list[Diagnostic]]:
    spec, problems = parse(text, file=file)
    if spec is None:
        return None, problems
    wiring = [
        Diagnostic(d.code, d.message, Location(file=file, json_path=d.location.json_path), d.hint)
        for d in check(spec, lookup, policy)
    ]
    return spec, problems + wiring


def _schema_hint(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return "remove the unknown field, or check its spelling"
    if error.validator == "required":
        return "add the missing field"
    if error.validator == "pattern":
        return "ids and names use lower case letters, digits, '_' and '-'"
    return "see the spec format in pipeline.schema.json"
