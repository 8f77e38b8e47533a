"""The value types a module port may declare, and how Python annotations map onto them."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, get_args, get_origin

from rainbow.spec.asset import Asset

PortType = Literal["string", "number", "integer", "boolean", "object", "array", "asset", "any"]
PORT_TYPES: tuple[PortType, ...] = (
    "string",
    "number",
    "integer",
    "boolean",
    "object",
    "array",
    "asset",
    "any",
)


def accepts(target: PortType, source: PortType) -> bool:
    """Whether a value of type ``source`` may be wired into a port of type ``target``."""
    if "any" in (target, source):
        return True
    if target == source:
        return True
    return target == "number" and source == "integer"


def type_of_literal(value: object) -> PortType:
    """The port type of a JSON literal written in a pipeline."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "any"


_SIMPLE: dict[Any, PortType] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
    Asset: "asset",
    Any: "any",
}


def port_type(annotation: Any) -> PortType | None:
    """The port type of an annotation, or None when it cannot travel as JSON."""
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    origin = get_origin(annotation)
    if origin in (dict, list):
        return _SIMPLE[origin]
    if origin in (typing.Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return port_type(members[0])
    return None
