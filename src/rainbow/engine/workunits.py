"""Work units: a UNIT.json file, or a corpus folder of them, turned into run inputs.

An ``rb.Asset`` input takes a path (relative to the unit's folder) or a URL; it is stored as
``{"$asset": "<absolute path or URL>"}`` so every executor passes it by reference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError, UserError
from rainbow.spec.models import PipelineSpec
from rainbow.spec.types import accepts, type_of_literal
from rainbow.storable import unstorable


@dataclass(frozen=True)
class WorkUnit:
    name: str
    inputs: dict[str, Any]


def load_unit(path: Path, spec: PipelineSpec) -> WorkUnit:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"work unit file not found: {path}", hint="check --input") from None
    except OSError as exc:
        raise UserError(
            f"cannot read work unit {path}: {exc.strerror}",
            hint="--input takes a UNIT.json file; --corpus takes a folder of units",
        ) from None
    except json.JSONDecodeError as exc:
        raise DiagnosticError(
            [
                Diagnostic(
                    "RB-E040",
                    f"not valid JSON: {exc.msg} (column {exc.colno})",
                    Location(file=str(path), line=exc.lineno),
                    'a work unit is a JSON object of pipeline inputs, e.g. {"photo": "a.jpg"}',
                )
            ]
        ) from None
    name = path.resolve().parent.name if path.name == "unit.json" else path.stem
    return WorkUnit(name=name, inputs=bind_inputs(data, spec, base=path.parent, file=str(path)))


def load_corpus(folder: Path, spec: PipelineSpec) -> list[WorkUnit]:
    if not folder.is_dir():
        raise UserError(f"corpus folder not found: {folder}", hint="check --corpus")
    files = sorted(folder.glob("*.json")) + sorted(folder.glob("*/unit.json"))
    if not files:
        raise UserError(
            f"no work units in {folder}",
            hint="a corpus holds *.json units, or sub-folders each with a unit.json",
        )
    units: list[WorkUnit] = []
    problems: list[Diagnostic] = []
    for file in files:
        try:
            units.append(load_unit(file, spec))
        except DiagnosticError as exc:
            problems.extend(exc.diagnostics)
    if problems:
        raise DiagnosticError(problems)
    return units


def bind_inputs(data: Any, spec: PipelineSpec, *, base: Path, file: str) -> dict[str, Any]:
    """Check a unit against the pipeline's inputs and turn asset paths into asset references."""
    where = Location(file=file)
    if not isinstance(data, dict):
        raise DiagnosticError(
            [Diagnostic("RB-E040", "a work unit must be a JSON object", where, _UNIT_HINT)]
        )
    problems = []
    bound: dict[str, Any] = {}
    for name, port in spec.inputs.items():
        if name not in data:
            if port.required:
                problems.append(
                    Diagnostic(
                        "RB-E040",
                        f"missing pipeline input {name!r} ({port.type})",
                        where,
                        f"add {name!r} to the unit; the pipeline inputs are {sorted(spec.inputs)}",
                    )
                )
            else:
                bound[name] = port.default
            continue
        value = data[name]
        unfit = unstorable(value, f"input {name!r}")
        if unfit is not None:
            problems.append(
                Diagnostic(
                    "RB-E040",
                    f"{unfit}, which the run store cannot hold",
                    where,
                    "remove the character, or pass the data in a file (an asset input)",
                )
            )
            continue
        if port.type == "asset":
            if not isinstance(value, str):
                problems.append(
                    Diagnostic(
                        "RB-E040",
                        f"input {name!r} is an asset: give a path or URL string",
                        where,
                        _UNIT_HINT,
                    )
                )
                continue
            location = _absolute(value, base)
            if "://" not in location and not Path(location).is_file():
                problems.append(
                    Diagnostic(
                        "RB-E041",
                        f"input {name!r}: {location} does not exist or is not a file",
                        where,
                        "asset paths are relative to the unit's folder",
                    )
                )
                continue
            bound[name] = {"$asset": location}
        elif not accepts(port.type, type_of_literal(value)):
            problems.append(
                Diagnostic(
                    "RB-E040",
                    f"input {name!r} expects {port.type}, got {type_of_literal(value)}",
                    where,
                    _UNIT_HINT,
                )
            )
        else:
            bound[name] = value
    for extra in sorted(set(data) - set(spec.inputs)):
        problems.append(
            Diagnostic(
                "RB-E040",
                f"{extra!r} is not an input of pipeline {spec.name!r}",
                where,
                f"the pipeline inputs are {sorted(spec.inputs)}",
            )
        )
    if problems:
        raise DiagnosticError(problems)
    return bound


def _absolute(value: str, base: Path) -> str:
    scheme = urlparse(value).scheme
    if scheme and scheme != "file" and len(scheme) > 1:
        return value
    path = Path(value.removeprefix("file://"))
    return str(path if path.is_absolute() else (base / path).resolve())


_UNIT_HINT = 'a work unit is a JSON object of pipeline inputs, e.g. {"photo": "photo.jpg"}'
