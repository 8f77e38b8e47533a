"""Derive a module's interface (typed inputs and outputs) from its Python signature."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from typing import Any, get_origin, get_type_hints

from pydantic import BaseModel

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError
from rainbow.spec.models import PortSpec
from rainbow.spec.types import port_type


def _where(fn: Callable[..., Any]) -> Location:
    code = getattr(fn, "__code__", None)
    if code is None:
        return Location()
    return Location(file=code.co_filename, line=code.co_firstlineno)


def _problem(fn: Callable[..., Any], message: str, hint: str) -> Diagnostic:
    return Diagnostic("RB-E032", message, _where(fn), hint)


def inputs_of(fn: Callable[..., Any], name: str) -> dict[str, PortSpec]:
    try:
        hints = get_type_hints(fn)
    except Exception as exc:  # a forward reference that does not resolve, say
        raise DiagnosticError(
            [_problem(fn, f"module {name!r}: its type hints cannot be read: {exc}", _TYPES_HINT)]
        ) from None
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].name != "ctx":
        raise DiagnosticError(
            [
                _problem(
                    fn,
                    f"module {name!r}: the first parameter must be `ctx: rb.Context`",
                    f"write `def {fn.__name__}(ctx: rb.Context, ...)`",
                )
            ]
        )
    ports: dict[str, PortSpec] = {}
    problems: list[Diagnostic] = []
    for param in params[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            problems.append(
                _problem(
                    fn,
                    f"module {name!r}: *args and **kwargs cannot be wired",
                    "declare every input as a named parameter",
                )
            )
            continue
        annotation = hints.get(param.name, Any)
        kind = port_type(annotation)
        if kind is None:
            problems.append(
                _problem(
                    fn,
                    f"module {name!r}: input {param.name!r} has type {annotation!r}, "
                    "which cannot travel as JSON",
                    _TYPES_HINT,
                )
            )
            continue
        if param.default is inspect.Parameter.empty:
            ports[param.name] = PortSpec(type=kind)
            continue
        try:
            json.dumps(param.default)
        except TypeError:
            problems.append(
                _problem(
                    fn,
                    f"module {name!r}: the default of {param.name!r} is not a JSON value",
                    "use a str, number, bool, list, dict or None as default",
                )
            )
            continue
        ports[param.name] = PortSpec(type=kind, required=False, default=param.default)
    if problems:
        raise DiagnosticError(problems)
    return ports


def outputs_of(fn: Callable[..., Any], name: str) -> dict[str, PortSpec] | None:
    """Declared outputs from a TypedDict or pydantic return annotation; None when undeclared."""
    returned = get_type_hints(fn).get("return")
    if returned is None or returned in (dict, type(None)) or get_origin(returned) is dict:
        return None
    if isinstance(returned, type) and issubclass(returned, BaseModel):
        fields = {k: f.annotation for k, f in returned.model_fields.items()}
    elif typing.is_typeddict(returned):
        fields = get_type_hints(returned)
    else:
        raise DiagnosticError(
            [
                _problem(
                    fn,
                    f"module {name!r}: return type {returned!r} does not declare outputs",
                    "return a TypedDict or pydantic model whose fields are the outputs",
                )
            ]
        )
    outputs: dict[str, PortSpec] = {}
    problems: list[Diagnostic] = []
    for field, annotation in fields.items():
        kind = port_type(annotation)
        if kind is None:
            problems.append(
                _problem(
                    fn,
                    f"module {name!r}: output {field!r} has type {annotation!r}, "
                    "which cannot travel as JSON",
                    _TYPES_HINT,
                )
            )
        else:
            outputs[field] = PortSpec(type=kind)
    if problems:
        raise DiagnosticError(problems)
    return outputs


_TYPES_HINT = "use str, int, float, bool, dict, list, rb.Asset (optionally `| None`)"
