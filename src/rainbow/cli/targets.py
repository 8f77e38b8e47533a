"""Turn command-line targets into specs and module code.

``FILE.py[:FUNC]`` is a pipeline file (and, through its imports, its modules); ``SPEC.json`` is
a compiled spec; ``--modules`` adds import paths, .py files or command-module .toml files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rainbow.deploy.registry import Registry
from rainbow.diagnostics import Diagnostic, Location
from rainbow.dsl.compiler import Lookup, compile_pipeline
from rainbow.dsl.pipeline import PipelineDef
from rainbow.errors import DiagnosticError, UserError
from rainbow.loading import import_file
from rainbow.sdk.catalog import AnyModule, load_modules, modules_in
from rainbow.sdk.command import CommandModule
from rainbow.settings import Settings, SpecSettings
from rainbow.spec.canonical import spec_to_dict
from rainbow.spec.limits import SpecLimits, size_problems
from rainbow.spec.models import ModuleInterface, PipelineSpec
from rainbow.spec.validate import validate
from rainbow.spec.wiring import WiringPolicy


@dataclass(frozen=True)
class Loaded:
    spec: PipelineSpec
    modules: dict[str, AnyModule]
    warnings: list[Diagnostic]


def split_target(target: str) -> tuple[Path, str | None]:
    path, _, func = target.partition(".py:")
    if func:
        return Path(path + ".py"), func
    return Path(target), None


def find_pipeline(path: Path, func: str | None) -> tuple[PipelineDef, dict[str, AnyModule]]:
    module = import_file(path)
    namespace = vars(module)
    pipelines = {
        name: value
        for name, value in namespace.items()
        if isinstance(value, PipelineDef) and value.fn.__module__ == module.__name__
    }
    if func is not None:
        chosen = namespace.get(func)
        if not isinstance(chosen, PipelineDef):
            by_name = [p for p in pipelines.values() if p.name == func]
            if len(by_name) != 1:
                raise _no_pipeline(path, f"{func!r} is not a pipeline in {path}", pipelines)
            chosen = by_name[0]
    elif len(pipelines) == 1:
        chosen = next(iter(pipelines.values()))
    else:
        problem = "no @rb.pipeline function" if not pipelines else "several pipelines"
        raise _no_pipeline(path, f"{path} has {problem}", pipelines)
    return chosen, modules_in(namespace)


def _no_pipeline(path: Path, message: str, pipelines: dict[str, PipelineDef]) -> DiagnosticError:
    names = ", ".join(sorted(pipelines)) or "none"
    hint = f"pick one with {path}:FUNC; pipelines here: {names}"
    return DiagnosticError([Diagnostic("RB-E031", message, Location(file=str(path)), hint)])


def load(
    target: str,
    module_targets: Sequence[str],
    *,
    limits: SpecSettings,
    registered: Lookup | None = None,
) -> Loaded:
    """Compile or read the target's spec and gather the module code it can run, within the
    spec limits the control plane applies (RAINBOW_MAX_SPEC_STEPS, RAINBOW_MAX_SPEC_BYTES).
    Modules without code here are checked against ``registered`` (the registry's interfaces
    of the exact versions pinned)."""
    spec_limits = SpecLimits.of(limits)
    extra = load_modules(module_targets)
    path, func = split_target(target)
    if path.suffix == ".json":
        if not path.is_file():
            raise UserError(f"spec file not found: {path}", hint="check the path")
        lookup_modules = dict(extra)
        policy = WiringPolicy(unknown_module="warning", known_modules=tuple(sorted(extra)))
        spec, problems = validate(
            path.read_bytes(),
            lambda name, version: (
                lookup_modules[name].rainbow_interface
                if name in lookup_modules
                else (registered(name, version) if registered else None)
            ),
            file=str(path),
            policy=policy,
            limits=spec_limits,
        )
        if spec is None or any(d.severity == "error" for d in problems):
            raise DiagnosticError(problems)
        return Loaded(spec, extra, problems)
    if path.suffix != ".py":
        raise UserError(
            f"cannot read a pipeline from {path.name}",
            hint="give a pipeline file FILE.py[:FUNC] or a compiled SPEC.json",
        )
    pipeline, found = find_pipeline(path, func)
    modules = {**found, **extra}
    interfaces = {name: m.rainbow_interface for name, m in modules.items()}
    spec, warnings = compile_pipeline(pipeline, interfaces, registered=registered)
    too_big = size_problems(spec_to_dict(spec), spec_limits, location=pipeline.where)
    if too_big:
        raise DiagnosticError(too_big)
    return Loaded(spec, modules, warnings)


@dataclass(frozen=True)
class Swap:
    """``--override NAME=SOURCE``: every step of module ``module`` runs ``source`` instead."""

    module: str
    source: str
    """A version (``1.3``, ``branch-fix``) or where local code is (a file, folder or import)."""
    local: bool


def with_overrides(
    loaded: Loaded, overrides: Sequence[str], *, registered: Lookup | None
) -> tuple[Loaded, list[Swap]]:
    """The pipeline with each override applied, its wiring checked again against what it now
    runs: a one-off of the pipeline, compared with the pipeline's own baseline."""
    if not overrides:
        return loaded, []
    used = sorted({step.module for step in loaded.spec.steps})
    modules = dict(loaded.modules)
    data = spec_to_dict(loaded.spec)
    swaps = []
    for override in overrides:
        name, _, source = override.partition("=")
        name, source = name.strip(), source.strip()
        if not name or not source:
            raise UserError(
                f"--override {override!r} is not NAME=SOURCE",
                code="RB-E104",
                hint="e.g. --override segment=segment@1.3, segment=branch-fix or "
                "segment=../segment/src/segment/module.py",
            )
        if name not in used:
            raise UserError(
                f"--override {name}=…: the pipeline {loaded.spec.name} uses no module {name!r}",
                code="RB-E104",
                hint=f"its modules are {', '.join(used)}",
            )
        version = source.removeprefix(f"{name}@")
        if _is_version(version) and not Path(source).exists():
            for step in data["steps"]:
                if step["module"] == name:
                    step["version"] = version
            # The pin's build runs, not the code at hand: checked against its interface.
            modules.pop(name, None)
            swaps.append(Swap(name, version, local=False))
            continue
        found = load_modules([source]).get(name)
        if found is None:
            raise UserError(
                f"--override {name}={source}: no module {name!r} there",
                code="RB-E105",
                hint="point at the file, folder or import path that defines it, or give a "
                f"version: {name}@X.Y, {name}@latest or {name}@branch-NAME",
            )
        modules[name] = found
        swaps.append(Swap(name, source, local=True))
    data.pop("spec_hash", None)
    spec, problems = validate(
        json.dumps(data).encode(),
        lambda module, version: (
            modules[module].rainbow_interface
            if module in modules
            else (registered(module, version) if registered else None)
        ),
        policy=WiringPolicy(unknown_module="warning", known_modules=tuple(sorted(modules))),
    )
    if spec is None or any(d.severity == "error" for d in problems):
        raise DiagnosticError(problems)
    return Loaded(spec, modules, [*loaded.warnings, *problems]), swaps


def _is_version(text: str) -> bool:
    from rainbow.spec.models import VERSION_MAX_LENGTH, VERSION_PATTERN

    return bool(re.fullmatch(VERSION_PATTERN, text)) and len(text) <= VERSION_MAX_LENGTH


def registry_of(settings: Settings) -> Registry:
    """The registry of released versions: the control plane with RAINBOW_URL, else the store."""
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane, RemoteRegistry

        return RemoteRegistry(ControlPlane(settings.client))
    from rainbow.cli.app import open_store

    open_store(settings.store)
    from rainbow.control.services.builds import StoreRegistry

    return StoreRegistry()


def registry_lookup(settings: Settings) -> Lookup:
    """Interfaces of registered module versions, read from the registry (the control plane
    with RAINBOW_URL, else the store) only when a pipeline pins a module without code here."""
    from functools import cache

    @cache
    def interface(name: str, version: str) -> ModuleInterface | None:
        if settings.client.url:
            from rainbow.cli.remote import ControlPlane, module_version_path

            plane = ControlPlane(settings.client)
            answer = plane.get_or_none(module_version_path(name, version))
            return None if answer is None else ModuleInterface.model_validate(answer["interface"])
        from rainbow.cli.app import open_store, store_exists

        if not store_exists(settings.store):
            return None  # nothing registered, and no store is made just to look

        open_store(settings.store)
        from rainbow.control.models import ModuleVersion

        row = ModuleVersion.objects.filter(module__name=name, version=version).first()
        return ModuleInterface.model_validate(row.interface) if row is not None else None

    return interface


def require_code(
    loaded: Loaded, *, strict_versions: bool, released: Collection[tuple[str, str]] = ()
) -> list[str]:
    """Check every step's module has local code or a ``released`` build to run; return notes
    on pins the local code stands for."""
    problems: list[Diagnostic] = []
    notes: list[str] = []
    for index, step in enumerate(loaded.spec.steps):
        if (step.module, step.version) in released:
            continue
        where = Location(json_path=f"$.steps[{index}].module")
        module = loaded.modules.get(step.module)
        if isinstance(module, CommandModule) and not _runnable(module.argv()[0]):
            problems.append(
                Diagnostic(
                    "RB-E033",
                    f"step {step.id!r}: command {module.argv()[0]!r} of module {step.module!r} "
                    "does not exist or is not executable",
                    Location(file=str(module.config_path)),
                    "build it (see the module's README or Makefile) or fix `command`",
                )
            )
        if step.module not in loaded.modules:
            problems.append(
                Diagnostic(
                    "RB-E017",
                    f"step {step.id!r}: no code for module {step.module!r} here, and no "
                    f"released build of {step.module}@{step.version}",
                    where,
                    "pass --modules with the module's import path, .py or .toml file, or "
                    "release the module (rainbow release in its project)",
                )
            )
        elif step.version != "latest":
            if strict_versions:
                problems.append(
                    Diagnostic(
                        "RB-E042",
                        f"step {step.id!r} pins {step.module}@{step.version}, which has no "
                        "released build; only the local code is here",
                        where,
                        "release it (rainbow release), or drop --strict-versions to run the "
                        "local code in its place",
                    )
                )
            else:
                notes.append(f"{step.module}@{step.version}")
    if problems:
        raise DiagnosticError(problems)
    return sorted(set(notes))


def refuse_retired(spec: PipelineSpec, retired: Mapping[tuple[str, str], str]) -> None:
    """Nothing new runs on a retired module version: say which steps pin one, and why."""
    problems = [
        Diagnostic(
            "RB-E082",
            f"step {step.id!r} pins {step.module}@{step.version}, which is retired: "
            f"{retired[(step.module, step.version)] or 'no reason was given'}",
            Location(json_path=f"$.steps[{index}].version"),
            f"pin a live version (`rainbow module list {step.module}`)",
        )
        for index, step in enumerate(spec.steps)
        if (step.module, step.version) in retired
    ]
    if problems:
        raise DiagnosticError(problems)


def _runnable(command: str) -> bool:
    if "/" in command:
        return os.access(command, os.X_OK) and Path(command).is_file()
    return shutil.which(command) is not None
