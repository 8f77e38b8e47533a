"""Compile a traced pipeline into a :class:`~rainbow.spec.models.PipelineSpec`.

Structure is always checked; types and outputs are checked against every module interface known
(the pipeline file's imports, ``--modules``, later the registry). Problems carry the user's file
and line: the tracer remembers where each step was called and each output was read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from rainbow.diagnostics import Diagnostic, Location
from rainbow.dsl.discovery import objects_with_interfaces
from rainbow.dsl.handles import InputHandle, OutputHandle
from rainbow.dsl.pipeline import PipelineDef, outputs_of
from rainbow.dsl.tracer import ACTIVE, Tracer
from rainbow.errors import DiagnosticError, ModuleLoadError
from rainbow.spec.canonical import with_hash
from rainbow.spec.models import (
    InputRef,
    LiteralRef,
    ModuleInterface,
    OutputRef,
    PipelineSpec,
    StepSpec,
)
from rainbow.spec.wiring import WiringPolicy, check
from rainbow.tracebacks import user_location, user_traceback

DEFAULT_RETRIES = 3
DEFAULT_STEP_TIMEOUT = 600.0


def interfaces_near(pipeline: PipelineDef) -> dict[str, ModuleInterface]:
    """Interfaces of the modules the pipeline's own file defines or imports."""
    found = objects_with_interfaces(pipeline.fn.__globals__)
    return {name: obj.rainbow_interface for name, obj in found.items()}


Lookup = Callable[[str, str], ModuleInterface | None]


def compile_pipeline(
    pipeline: PipelineDef,
    interfaces: Mapping[str, ModuleInterface] | None = None,
    *,
    registered: Lookup | None = None,
) -> tuple[PipelineSpec, list[Diagnostic]]:
    """Trace and check a pipeline. Raises DiagnosticError on errors; returns warnings.

    Modules with code at hand (the pipeline file's imports, ``interfaces``) stand for every
    version of theirs; ``registered`` answers the interface of an exact released version for
    modules whose code is elsewhere.
    """
    known = dict(interfaces_near(pipeline))
    known.update(interfaces or {})

    def interface_of(name: str, version: str) -> ModuleInterface | None:
        return known.get(name) or (registered(name, version) if registered else None)

    tracer = Tracer()
    token = ACTIVE.set(tracer)
    try:
        handles = {name: InputHandle(name, pipeline.where) for name in pipeline.input_ports()}
        returned = pipeline.fn(**handles)
    except DiagnosticError:
        raise
    except Exception as exc:
        raise _tracing_error(pipeline, exc) from None
    finally:
        ACTIVE.reset(token)
    outputs = outputs_of(pipeline, returned, tracer.problems)
    spec, places = _build(pipeline, tracer, outputs, interface_of)
    policy = WiringPolicy(unknown_module="error", known_modules=tuple(sorted(known)))
    # Structural problems found while tracing and wiring problems are reported together.
    problems = tracer.problems + [
        Diagnostic(d.code, d.message, _place(places, d.location.json_path, pipeline), d.hint)
        for d in check(spec, interface_of, policy)
    ]
    if any(d.severity == "error" for d in problems):
        raise DiagnosticError(problems)
    return spec, problems


def _build(
    pipeline: PipelineDef,
    tracer: Tracer,
    outputs: Mapping[str, OutputHandle | InputHandle],
    interface_of: Lookup,
) -> tuple[PipelineSpec, dict[str, Location]]:
    places: dict[str, Location] = {}
    steps: list[dict[str, Any]] = []
    for index, draft in enumerate(tracer.steps):
        path = f"$.steps[{index}]"
        places[path] = draft.where
        interface = interface_of(draft.module, draft.version)
        inputs = {}
        for name, value in draft.inputs.items():
            inputs[name] = _ref(value)
            places[f"{path}.inputs.{name}"] = (
                value.where if isinstance(value, OutputHandle) else draft.where
            )
        steps.append(
            {
                "id": draft.id,
                "module": draft.module,
                "version": draft.version,
                "inputs": inputs,
                "retries": _first_set(
                    draft.retries, interface.retries if interface else None, DEFAULT_RETRIES
                ),
                "timeout": float(
                    _first_set(
                        draft.timeout,
                        interface.timeout if interface else None,
                        DEFAULT_STEP_TIMEOUT,
                    )
                ),
            }
        )
    for name, handle in outputs.items():
        places[f"$.outputs.{name}"] = handle.where
    try:
        spec = PipelineSpec(
            name=pipeline.name,
            inputs=pipeline.input_ports(),
            outputs={name: _ref(handle) for name, handle in outputs.items()},  # type: ignore[misc]
            timeout=pipeline.timeout,
            steps=[StepSpec.model_validate(s) for s in steps],
        )
    except ValidationError as exc:
        raise DiagnosticError(_validation_problems(exc, pipeline)) from None
    return with_hash(spec), places


def _first_set(*candidates: Any) -> Any:
    return next(c for c in candidates if c is not None)


def _ref(value: Any) -> LiteralRef | InputRef | OutputRef:
    if isinstance(value, InputHandle):
        return InputRef(input=value.name)
    if isinstance(value, OutputHandle):
        return OutputRef(step=value.step, output=value.output)
    return LiteralRef(value=value)


def _place(places: Mapping[str, Location], path: str | None, pipeline: PipelineDef) -> Location:
    """The most precise user location known for a JSON path or the nearest enclosing one."""
    while path and path != "$":
        if path in places:
            return places[path]
        path = path.rsplit(".", 1)[0]
    return pipeline.where


def _validation_problems(exc: ValidationError, pipeline: PipelineDef) -> list[Diagnostic]:
    """Anything the DSL's own checks let through to the spec models, at the best place known."""
    return [
        Diagnostic(
            "RB-E021",
            f"pipeline {pipeline.name!r}: {'.'.join(str(p) for p in error['loc'])}: {error['msg']}",
            pipeline.where,
            "step ids use lower case letters, digits, '_' and '-'; retries >= 0; timeout > 0",
        )
        for error in exc.errors()
    ]


def _tracing_error(pipeline: PipelineDef, exc: Exception) -> ModuleLoadError:
    return ModuleLoadError(
        f"pipeline {pipeline.name!r} raised {type(exc).__name__}: {exc}"
        f"{user_location(exc)} while compiling",
        hint="a pipeline function only wires steps; it cannot compute on values",
        user_traceback=user_traceback(exc),
    )
