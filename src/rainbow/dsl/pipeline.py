"""``@rb.pipeline``: a plain function of its inputs that calls ``rb.step()`` and returns outputs."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints

from rainbow.diagnostics import Diagnostic, Location
from rainbow.dsl.handles import InputHandle, OutputHandle
from rainbow.dsl.tracer import ACTIVE, caller_location
from rainbow.errors import DiagnosticError
from rainbow.spec.models import MAX_TIMEOUT_S, NAME_PATTERN, PortSpec, is_duration
from rainbow.spec.types import port_type

DEFAULT_TIMEOUT = 3600.0


class PipelineDef:
    """A pipeline definition. Inside another pipeline, calling it inlines its steps."""

    def __init__(self, fn: Callable[..., Any], *, name: str, timeout: float) -> None:
        self.fn = fn
        self.name = name
        self.timeout = timeout
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    @property
    def where(self) -> Location:
        code = self.fn.__code__
        return Location(file=code.co_filename, line=code.co_firstlineno)

    def input_ports(self) -> dict[str, PortSpec]:
        hints = get_type_hints(self.fn)
        ports: dict[str, PortSpec] = {}
        for param in inspect.signature(self.fn).parameters.values():
            kind = port_type(hints.get(param.name, Any)) or "any"
            if param.default is inspect.Parameter.empty:
                ports[param.name] = PortSpec(type=kind)
            else:
                ports[param.name] = PortSpec(type=kind, required=False, default=param.default)
        return ports

    def named(self, name: str) -> PipelineDef:
        """This pipeline under another name: inlined, its steps' ids start with ``name.``.

        A sub-pipeline used twice is otherwise numbered (``edge-profile-2.*``);
        ``edge_profile.named("floor-profile")(image=...)`` says what the second use is for.
        Only inside a pipeline: a renamed top-level pipeline would be another pipeline.
        """
        if ACTIVE.get() is None:
            raise DiagnosticError(
                [
                    Diagnostic(
                        "RB-E023",
                        f"pipeline {self.name!r} was renamed outside a pipeline",
                        caller_location(),
                        f"call {self.__name__}.named({name!r})(...) inside the pipeline that "
                        "uses it; to rename a pipeline, change @rb.pipeline(name=...)",
                    )
                ]
            )
        if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
            raise DiagnosticError(
                [
                    Diagnostic(
                        "RB-E021",
                        f"pipeline {self.name!r} cannot be named {name!r}",
                        caller_location(),
                        "names use lower case letters, digits, '_' and '-', "
                        'e.g. edge_profile.named("floor-profile")',
                    )
                ]
            )
        return PipelineDef(self.fn, name=name, timeout=self.timeout)

    def __call__(self, *args: Any, **inputs: Any) -> dict[str, OutputHandle | InputHandle]:
        tracer = ACTIVE.get()
        if args:
            raise DiagnosticError(
                [
                    Diagnostic(
                        "RB-E021",
                        f"pipeline {self.name!r} was called with positional arguments",
                        caller_location(),
                        f"name its inputs: {self.__name__}("
                        + ", ".join(f"{n}=..." for n in self.input_ports())
                        + ")",
                    )
                ]
            )
        if tracer is None:
            raise DiagnosticError(
                [
                    Diagnostic(
                        "RB-E023",
                        f"pipeline {self.name!r} was called directly",
                        caller_location(),
                        f"compile it with rb.compile({self.__name__}) or `rainbow compile`; "
                        "call it directly only inside another pipeline",
                    )
                ]
            )
        tracer.enter_scope(self.name)
        try:
            returned = self.fn(**inputs)
        finally:
            tracer.exit_scope()
        return outputs_of(self, returned, tracer.problems)

    def __repr__(self) -> str:
        return f"<rainbow pipeline {self.name}>"


def outputs_of(
    pipeline: PipelineDef, returned: Any, problems: list[Diagnostic]
) -> dict[str, OutputHandle | InputHandle]:
    if returned is None:
        return {}
    if not isinstance(returned, dict):
        problems.append(
            Diagnostic(
                "RB-E021",
                f"pipeline {pipeline.name!r} returned {type(returned).__name__}, not a dict",
                pipeline.where,
                'return a dict of outputs, e.g. return {"mask": seg.mask}',
            )
        )
        return {}
    outputs: dict[str, OutputHandle | InputHandle] = {}
    for key, value in returned.items():
        if isinstance(value, OutputHandle | InputHandle):
            outputs[str(key)] = value
        else:
            problems.append(
                Diagnostic(
                    "RB-E021",
                    f"pipeline {pipeline.name!r}: output {key!r} is {value!r}, "
                    "not a step output or pipeline input",
                    pipeline.where,
                    "outputs name step outputs like seg.mask",
                )
            )
    return outputs


def pipeline(
    name: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> Callable[[Callable[..., Any]], PipelineDef]:
    """Declare a pipeline; ``timeout`` is the run's deadline in seconds."""

    def declare(fn: Callable[..., Any]) -> PipelineDef:
        pipeline_name = name or fn.__name__.replace("_", "-")
        if not re.fullmatch(NAME_PATTERN, pipeline_name) or not is_duration(timeout):
            code = fn.__code__
            raise DiagnosticError(
                [
                    Diagnostic(
                        "RB-E021",
                        f"pipeline name {pipeline_name!r} or timeout {timeout!r} is not valid",
                        Location(file=code.co_filename, line=code.co_firstlineno),
                        "names use lower case letters, digits, '_' and '-'; timeout in seconds, "
                        f"> 0 and at most {MAX_TIMEOUT_S:g} (30 days)",
                    )
                ]
            )
        return PipelineDef(fn, name=pipeline_name, timeout=float(timeout))

    return declare
