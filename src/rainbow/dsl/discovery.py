"""Find modules in user code: what a pipeline file defines or imports, one import deep, and what
the files of the sub-pipelines it uses define or import.

Anything with a ``rainbow_interface`` attribute counts, so this layer needs nothing from the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from rainbow.spec.models import ModuleInterface


def objects_with_interfaces(namespace: Mapping[str, Any], *, depth: int = 1) -> dict[str, Any]:
    """Module objects by module name, found from ``namespace``."""
    found: dict[str, Any] = {}
    _collect(namespace, depth, found, seen=set())
    return found


def _collect(
    namespace: Mapping[str, Any], depth: int, found: dict[str, Any], seen: set[int]
) -> None:
    if id(namespace) in seen:
        return
    seen.add(id(namespace))
    for value in list(namespace.values()):
        interface = getattr(value, "rainbow_interface", None) if _may_be_module(value) else None
        if isinstance(interface, ModuleInterface):
            found.setdefault(interface.name, value)
        elif isinstance(value, ModuleType) and depth > 0 and _is_user_code(value):
            _collect(vars(value), depth - 1, found, seen)
        elif _is_pipeline(value):
            # A sub-pipeline imported from another file finds its modules where it was written.
            _collect(value.fn.__globals__, depth, found, seen)


def _is_pipeline(value: Any) -> bool:
    from rainbow.dsl.pipeline import PipelineDef

    return isinstance(value, PipelineDef)


def _may_be_module(value: Any) -> bool:
    # Rainbow's module classes are plain objects; skipping types and Python modules avoids
    # running library __getattr__ hooks (lazy imports, deprecation warnings) while searching.
    return not isinstance(value, type | ModuleType)


def _is_user_code(module: ModuleType) -> bool:
    """Project code, not Rainbow or an installed library (whose modules are imported by name)."""
    if module.__name__ == "rainbow" or module.__name__.startswith("rainbow."):
        return False
    path = str(getattr(module, "__file__", "") or "")
    return bool(path) and "site-packages" not in path and "/lib/python" not in path
