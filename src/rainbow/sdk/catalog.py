"""Find modules: in the namespaces of imported user code, or by the reference a worker gets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from rainbow.diagnostics import Diagnostic, Location
from rainbow.dsl.discovery import objects_with_interfaces
from rainbow.errors import DiagnosticError, ModuleLoadError
from rainbow.loading import import_file, import_target
from rainbow.sdk.command import CommandModule, command_module
from rainbow.sdk.module import ModuleRef, PythonModule

AnyModule = PythonModule | CommandModule

ENTRY_POINT_GROUP = "rainbow.modules"
"""Installed packages declare their modules here: ``NAME = "package.module:attribute"``."""


def modules_in(namespace: Mapping[str, Any], *, depth: int = 1) -> dict[str, AnyModule]:
    """Modules a namespace defines or imports (see :mod:`rainbow.dsl.discovery`)."""
    return {
        name: value
        for name, value in objects_with_interfaces(namespace, depth=depth).items()
        if isinstance(value, PythonModule | CommandModule)
    }


def load_modules(targets: Iterable[str]) -> dict[str, AnyModule]:
    """Modules from ``--modules``: import paths, .py files or command module .toml files."""
    found: dict[str, AnyModule] = {}
    for target in targets:
        if target.endswith(".toml"):
            module = command_module(Path(target))
            found[module.name] = module
            continue
        found.update(modules_in(vars(import_target(target)), depth=0))
    return found


def installed_modules(names: Iterable[str] | None = None) -> dict[str, AnyModule]:
    """Modules that installed packages declare in the ``rainbow.modules`` entry point group,
    by module name; only those in ``names`` when given (the others are not imported)."""
    wanted = None if names is None else set(names)
    found: dict[str, AnyModule] = {}
    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and point.name not in wanted:
            continue
        where = f"entry point {point.name} = {point.value!r}"
        if point.dist is not None:
            where += f" of {point.dist.name} {point.dist.version}"
        try:
            value = point.load()
        except Exception as exc:
            raise ModuleLoadError(
                f"loading the {where} failed: {type(exc).__name__}: {exc}",
                hint="the package is installed but its module does not import; reinstall it, "
                "or fix the entry point in its pyproject.toml",
            ) from None
        if not isinstance(value, PythonModule | CommandModule):
            raise ModuleLoadError(
                f"the {where} is a {type(value).__name__}, not a Rainbow module",
                hint="point it at an @rb.module function or an rb.command_module(...)",
            )
        if value.name != point.name:
            raise ModuleLoadError(
                f"the {where} names module {value.name!r}",
                hint=f"name the entry point {value.name!r}, as the module calls itself",
            )
        found[value.name] = value
    return found


def load_ref(ref: ModuleRef, name: str) -> AnyModule:
    """Load a module in a worker process from the reference its executor sent."""
    if ref.file and ref.file.endswith(".toml"):
        return command_module(ref.file)
    namespace = vars(_import_ref(ref, name))
    value = namespace.get(ref.attribute)
    if isinstance(value, PythonModule | CommandModule):
        return value
    for module in modules_in(namespace, depth=0).values():
        if module.name == name:
            return module
    raise DiagnosticError(
        [
            Diagnostic(
                "RB-E017",
                f"module {name!r} not found in {ref.import_path or ref.file}",
                Location(file=ref.file),
                "was the module renamed since the run was submitted?",
            )
        ]
    )


def _import_ref(ref: ModuleRef, name: str) -> ModuleType:
    """By import path when it imports here, else by file (code run as a script, or from tests)."""
    if ref.import_path and ref.import_path != "__main__":
        try:
            return import_target(ref.import_path)
        except ModuleLoadError:
            if not ref.file or not Path(ref.file).is_file():
                raise
    if not ref.file:
        raise DiagnosticError(
            [Diagnostic("RB-E017", f"module {name!r} has no importable location", Location())]
        )
    return import_file(Path(ref.file))
