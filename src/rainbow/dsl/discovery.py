"""Find module interfaces in user namespaces: the modules a pipeline file defines or imports.

Anything with a ``rainbow_interface`` attribute counts, so this layer needs nothing from the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from rainbow.spec.models import ModuleInterface


def objects_with_interfaces(namespace: Mapping[str, Any], *, depth: int = 1) -> dict[str, Any]:
    """Module objects by module name, following imported user modules ``depth`` levels deep."""
    found: dict[str, Any] = {}
    for value in list(namespace.values()):
        interface = getattr(value, "rainbow_interface", None)
        if isinstance(interface, ModuleInterface):
            found.setdefault(interface.name, value)
        elif isinstance(value, ModuleType) and depth > 0 and not _is_library(value):
            for name, obj in objects_with_interfaces(vars(value), depth=depth - 1).items():
                found.setdefault(name, obj)
    return found


def _is_library(module: ModuleType) -> bool:
    if module.__name__ == "rainbow" or module.__name__.startswith("rainbow."):
        return True
    path = str(getattr(module, "__file__", "") or "")
    return not path or "site-packages" in path or "/lib/python" in path
