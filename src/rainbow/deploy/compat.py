"""Whether a hot fix keeps its version's contract: pipelines pinned ``@X.Y`` were checked
against X.Y's interface, and a hot fix moves them to the new code without a new check."""

from __future__ import annotations

from rainbow.spec.models import ModuleInterface


def breaking_changes(before: ModuleInterface, after: ModuleInterface) -> list[str]:
    """What ``after`` breaks for a caller of ``before``, one phrase per change; empty when
    every pipeline wired against ``before`` still wires against ``after``."""
    problems: list[str] = []
    for name, port in before.inputs.items():
        new = after.inputs.get(name)
        if new is None:
            problems.append(f"input {name!r} was removed")
        elif new.type != port.type:
            problems.append(f"input {name!r} changed type {port.type} → {new.type}")
        elif new.required and not port.required:
            problems.append(f"input {name!r} lost its default")
    for name, port in after.inputs.items():
        if name not in before.inputs and port.required:
            problems.append(f"new input {name!r} has no default")
    if before.outputs is not None:
        outputs = after.outputs or {}
        if after.outputs is None:
            problems.append("the outputs are no longer declared")
        for name, port in before.outputs.items():
            new = outputs.get(name)
            if new is None and after.outputs is not None:
                problems.append(f"output {name!r} was removed")
            elif new is not None and new.type != port.type:
                problems.append(f"output {name!r} changed type {port.type} → {new.type}")
    return problems
