"""Validate a JSON spec: JSON syntax, the size limits, the shipped JSON Schema, the schema
version, the hash and the wiring rules, returning every problem with its JSON path."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from rainbow.diagnostics import Diagnostic, Location
from rainbow.spec.canonical import compute_hash, spec_to_dict
from rainbow.spec.limits import DEFAULT_LIMITS, SpecLimits, size_problems
from rainbow.spec.models import SPEC_SCHEMA_VERSION, PipelineSpec
from rainbow.spec.schema import shipped
from rainbow.spec.wiring import InterfaceLookup, WiringPolicy, check
from rainbow.storable import MAX_JSON_DEPTH


def read_json(text: str | bytes, *, file: str | None = None) -> tuple[Any, list[Diagnostic]]:
    """The JSON value of spec text, or the problems saying why it cannot be read (then None)."""
    try:
        return json.loads(text.decode() if isinstance(text, bytes) else text), []
    except UnicodeDecodeError as exc:
        return None, [
            Diagnostic(
                "RB-E001",
                f"not UTF-8 text: byte {exc.start} is {exc.object[exc.start : exc.start + 1]!r}",
                Location(file=file),
                "a spec is UTF-8 JSON, as `rainbow compile` writes it",
            )
        ]
    except RecursionError:  # nested past what the JSON parser reads, so past what is stored too
        return None, [
            Diagnostic(
                "RB-E006",
                "the spec is nested too deeply to be read",
                Location(file=file, json_path="$"),
                f"a spec's values nest at most {MAX_JSON_DEPTH} levels deep",
            )
        ]
    except json.JSONDecodeError as exc:
        return None, [
            Diagnostic(
                "RB-E001",
                f"not valid JSON: {exc.msg}",
                Location(file=file, line=exc.lineno),
                f"column {exc.colno}; a spec is written by `rainbow compile`",
            )
        ]
    except ValueError as exc:  # valid JSON Python will not read: an integer of 5,000 digits
        return None, [
            Diagnostic(
                "RB-E001",
                f"not readable as JSON: {exc}",
                Location(file=file),
                "a spec is written by `rainbow compile`",
            )
        ]


def parse(
    text: str | bytes, *, file: str | None = None, limits: SpecLimits = DEFAULT_LIMITS
) -> tuple[PipelineSpec | None, list[Diagnostic]]:
    """Parse and structurally validate spec text; the spec is None when it cannot be used."""
    data, problems = read_json(text, file=file)
    if problems:
        return None, problems
    return from_data(data, file=file, limits=limits)


def from_data(
    data: Any, *, file: str | None = None, limits: SpecLimits = DEFAULT_LIMITS
) -> tuple[PipelineSpec | None, list[Diagnostic]]:
    """Check a parsed spec, its size first: the schema validator's time grows with it."""
    too_big = size_problems(data, limits, location=Location(file=file))
    if too_big:
        return None, too_big
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
            _schema_message(error),
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
    text: str | bytes,
    lookup: InterfaceLookup,
    *,
    file: str | None = None,
    policy: WiringPolicy = VALIDATE_POLICY,
    limits: SpecLimits = DEFAULT_LIMITS,
) -> tuple[PipelineSpec | None, list[Diagnostic]]:
    spec, problems = parse(text, file=file, limits=limits)
    if spec is None:
        return None, problems
    wiring = [
        Diagnostic(d.code, d.message, Location(file=file, json_path=d.location.json_path), d.hint)
        for d in check(spec, lookup, policy)
    ]
    return spec, problems + wiring


def _schema_message(error: jsonschema.ValidationError) -> str:
    """The validator's message, without a 5,000-character name quoted in full."""
    value = error.instance
    if error.validator == "maxLength" and isinstance(value, str):
        return (
            f"{_short(value)} is {len(value):,} characters long; "
            f"at most {error.validator_value} are allowed"
        )
    if error.validator == "pattern" and isinstance(value, str):
        return f"{_short(value)} does not match {error.validator_value!r}"
    return error.message if len(error.message) <= 500 else error.message[:500] + "…"


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "…"


def _schema_hint(error: jsonschema.ValidationError) -> str:
    if error.validator == "maxLength":
        return "names are stored in columns that wide: shorten it"
    if error.validator == "additionalProperties":
        return "remove the unknown field, or check its spelling"
    if error.validator == "required":
        return "add the missing field"
    if error.validator == "pattern":
        return "ids and names use lower case letters, digits, '_' and '-'"
    return "see the spec format in pipeline.schema.json"
