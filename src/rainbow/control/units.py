"""Work units sent to the control plane, checked against the pipeline before anything runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from rainbow.control.problems import Forbidden, Invalid
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
        for key, value in inputs.items():
            if isinstance(value, dict) and value.keys() == {"$asset"}:
                _require_readable(value["$asset"], f"{what} {index} input {key!r}")
        bound.append(WorkUnit(names[index] if names else f"{name}-{index}", inputs))
    return bound


def _require_readable(location: str, what: str) -> None:
    """A local path must lie in one of RAINBOW_INPUT_ROOTS: the engine reads it with the
    control plane's rights, so an arbitrary one could hand any server file to a module."""
    if "://" in location:
        return
    roots = [Path(root).resolve() for root in getattr(settings, "RAINBOW_INPUT_ROOTS", ())]
    if any(Path(location).resolve().is_relative_to(root) for root in roots):
        return
    allowed = ", ".join(str(root) for root in roots) or "none configured"
    raise Forbidden(
        f"{what} reads {location}, outside the folders the control plane may read ({allowed})",
        hint="put the file under one of them (or under a URL), or set RAINBOW_INPUT_ROOTS",
    )
