"""``rb.step()``: call one pinned module version inside a pipeline."""

from __future__ import annotations

import json
import re
from typing import Any

from rainbow.diagnostics import Diagnostic, Location
from rainbow.dsl.handles import InputHandle, OutputHandle, StepHandle
from rainbow.dsl.tracer import ACTIVE, StepDraft, caller_location
from rainbow.errors import DiagnosticError
from rainbow.spec.models import MAX_RETRIES, MAX_TIMEOUT_S, NAME_PATTERN, is_count, is_duration

_ID_PART = r"^[a-z0-9][a-z0-9_\-]*$"
_PINNED = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9_\-]*)@(?P<version>latest|\d+\.\d+(\.\d+)?|branch-[a-z0-9][a-z0-9\-]*)$"
)


def step(
    module: str,
    *,
    id: str | None = None,  # noqa: A002 - the spec calls it "id"; users write rb.step(..., id=...)
    retries: int | None = None,
    timeout: float | None = None,
    **inputs: Any,
) -> StepHandle:
    """Add a step calling ``module`` ("name@X.Y" or "name@latest") with the given inputs.

    Inputs are pipeline inputs, outputs of earlier steps (``seg.mask``) or JSON literals.
    ``retries`` and ``timeout`` override the module's defaults for this step.
    """
    where = caller_location()
    tracer = ACTIVE.get()
    if tracer is None:
        raise DiagnosticError(
            [
                Diagnostic(
                    "RB-E023",
                    "rb.step() was called outside a pipeline being compiled",
                    where,
                    "call rb.step() inside an @rb.pipeline function and compile it with "
                    "rb.compile(...) or `rainbow compile`",
                )
            ]
        )
    match = _PINNED.match(module)
    if match is None:
        base = module.split("@", maxsplit=1)[0]
        tracer.problems.append(
            Diagnostic(
                "RB-E019",
                f"module reference {module!r} is not name@version",
                where,
                f"pin a version: '{base}@latest' follows main, '{base}@1.2' is a release",
            )
        )
        name, version = (base if re.fullmatch(NAME_PATTERN, base) else "invalid"), "latest"
    else:
        name, version = match["name"], match["version"]
    option_problems = _option_problems(id, retries, timeout, where)
    if option_problems:
        # Reported above; the step is still traced with defaults so wiring gets checked too.
        tracer.problems.extend(option_problems)
        retries = retries if is_count(retries) else None
        timeout = timeout if is_duration(timeout) else None
    step_id = tracer.unique_id(id if id and re.fullmatch(_ID_PART, id) else name)
    values: dict[str, Any] = {}
    for input_name, value in inputs.items():
        values[input_name] = _checked_value(tracer.problems, step_id, input_name, value, where)
    tracer.steps.append(StepDraft(step_id, name, version, values, retries, timeout, where))
    return StepHandle(step_id, name, where)


def _option_problems(
    step_id: str | None, retries: int | None, timeout: float | None, where: Location
) -> list[Diagnostic]:
    problems = []
    if step_id is not None and not re.fullmatch(_ID_PART, step_id):
        problems.append(
            Diagnostic(
                "RB-E024",
                f"step id {step_id!r} is not valid",
                where,
                "use lower case letters, digits, '_' and '-', starting with a letter or digit",
            )
        )
    if retries is not None and not is_count(retries):
        problems.append(
            Diagnostic(
                "RB-E024", f"retries={retries!r} is not a count", where, f"use 0 to {MAX_RETRIES}"
            )
        )
    if timeout is not None and not is_duration(timeout):
        problems.append(
            Diagnostic(
                "RB-E024",
                f"timeout={timeout!r} is not a duration",
                where,
                f"use seconds > 0, at most {MAX_TIMEOUT_S:g} (30 days)",
            )
        )
    return problems


def _checked_value(
    problems: list[Diagnostic], step_id: str, name: str, value: Any, where: Any
) -> Any:
    if isinstance(value, InputHandle | OutputHandle):
        return value
    if isinstance(value, StepHandle):
        problems.append(
            Diagnostic(
                "RB-E022",
                f"step {step_id!r}: input {name!r} is a whole step ({value!r}), "
                "not one of its outputs",
                where,
                f"pass one output, e.g. {name}=<step>.<output>",
            )
        )
        return None
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        problems.append(
            Diagnostic(
                "RB-E022",
                f"step {step_id!r}: input {name!r} is a {type(value).__name__}, "
                "which cannot be written into a JSON spec",
                where,
                "pass a pipeline input, a step output, or a JSON literal (str, number, bool, "
                "list, dict)",
            )
        )
        return None
    return value
