"""How large a spec may be, and what in it the store cannot hold: checked before anything else.

A spec's cost grows with its size everywhere it goes (validation, every run's copy of it, the
conductor, the admin's drawing), so the limits are checked first, on the raw JSON value, before
the schema validator or pydantic spend time on it. ``rainbow compile``, ``rainbow validate`` and
the control plane check the same limits, each with the values its own settings give.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rainbow.diagnostics import Diagnostic, Location
from rainbow.settings import DEFAULT_MAX_SPEC_BYTES, DEFAULT_MAX_SPEC_STEPS, SpecSettings
from rainbow.storable import json_size, unstorable


@dataclass(frozen=True)
class SpecLimits:
    max_steps: int = DEFAULT_MAX_SPEC_STEPS
    max_bytes: int = DEFAULT_MAX_SPEC_BYTES

    @classmethod
    def of(cls, settings: SpecSettings) -> SpecLimits:
        return cls(settings.max_steps, settings.max_bytes)


DEFAULT_LIMITS = SpecLimits()


def compact_size(data: Any) -> int:
    """Bytes of ``data`` as compact JSON: the same for a spec however it was indented."""
    return json_size(data, compact=True)


def size_problems(data: Any, limits: SpecLimits, *, location: Location) -> list[Diagnostic]:
    """RB-E006 for a value the store cannot hold, RB-E005 for a spec over the limits."""
    reason = unstorable(data, "$")
    if reason is not None:
        return [
            Diagnostic(
                "RB-E006",
                f"the spec cannot be stored: {reason}",
                _at(location, "$"),
                "remove the character or flatten the value; PostgreSQL refuses it",
            )
        ]
    try:
        size = compact_size(data)
    except ValueError:  # NaN or Infinity: Python reads them, JSON and PostgreSQL do not
        return [
            Diagnostic(
                "RB-E006",
                "the spec cannot be stored: it holds NaN or Infinity, which are not JSON",
                _at(location, "$"),
                "write the number out, or pass it as a string",
            )
        ]
    problems = []
    steps = data.get("steps") if isinstance(data, Mapping) else None
    if isinstance(steps, list) and len(steps) > limits.max_steps:
        problems.append(
            Diagnostic(
                "RB-E005",
                f"the spec has {len(steps):,} steps; at most {limits.max_steps:,} are allowed",
                _at(location, "$.steps"),
                "split the pipeline into smaller ones, or raise RAINBOW_MAX_SPEC_STEPS",
            )
        )
    if size > limits.max_bytes:
        problems.append(
            Diagnostic(
                "RB-E005",
                f"the spec is {size:,} bytes as compact JSON; at most {limits.max_bytes:,} "
                "are allowed",
                _at(location, "$"),
                "pass large constants as work-unit inputs or assets instead of literals, or "
                "raise RAINBOW_MAX_SPEC_BYTES",
            )
        )
    return problems


def _at(location: Location, json_path: str) -> Location:
    return Location(location.file, location.line, location.json_path or json_path)
