"""Work units sent to the control plane, checked against the pipeline before anything runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rainbow.control.problems import Invalid
from rainbow.engine.workunits import WorkUnit, bind_inputs
from rainbow.errors import DiagnosticError
from rainbow.spec.models import PipelineSpec


def bind_units(
    spec: PipelineSpec,
    units: Sequence[Mapping[str, Any]],
    *,
    name: str,
    names: Sequence[str] | None = None,
    what: str = "work unit",
) -> list[WorkUnit]:
    """Units named by ``names`` or ``<name>-<index>``, asset inputs made references; Invalid if
    one misfits."""
    bound = []
    for index, unit in enumerate(units):
        try:
            # Asset inputs are paths or URLs the engine can read; relative ones mean nothing here.
            inputs = bind_inputs(unit, spec, base=Path("/"), file=f"units[{index}]")
        except DiagnosticError as exc:
            raise Invalid(
                f"{what} {index} does not fit pipeline {spec.name}",
                hint="asset inputs are absolute paths or URLs the workers can read",
                diagnostics=exc.diagnostics,
            ) from None
        bound.append(WorkUnit(names[index] if names else f"{name}-{index}", inputs))
    return bound
