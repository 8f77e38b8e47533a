"""The wiring rules every spec must obey, checked against whatever module interfaces are known.

Problems are reported with the JSON path of the offending value (``$.steps[2].inputs.image``);
the DSL maps those paths back to the user's file and line, ``rainbow validate`` prints them as is.
Every check is linear in the size of the spec (a spec of thousands of steps is checked while a
registration request waits), and so are the messages: hints list a few names, not all of them.
"""

from __future__ import annotations

import difflib
import graphlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

from rainbow.diagnostics import Diagnostic, Location
from rainbow.spec.models import InputRef, LiteralRef, ModuleInterface, OutputRef, PipelineSpec
from rainbow.spec.types import PortType, accepts, type_of_literal

InterfaceLookup = Callable[[str, str], ModuleInterface | None]


@dataclass(frozen=True)
class WiringPolicy:
    """``unknown_module``: "error" when code must exist (compile, run), "warning" for validate."""

    unknown_module: Literal["error", "warning"] = "error"
    known_modules: tuple[str, ...] = ()


def check(
    spec: PipelineSpec, lookup: InterfaceLookup, policy: WiringPolicy = WiringPolicy()
) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    ids = {s.id for s in spec.steps}
    seen: set[str] = set()
    for index, step in enumerate(spec.steps):
        if step.id in seen:
            problems.append(
                _at(
                    f"$.steps[{index}].id",
                    "RB-E018",
                    f"step id {step.id!r} is used twice",
                    "give one of the steps another id",
                )
            )
        seen.add(step.id)
    interfaces = {s.id: lookup(s.module, s.version) for s in spec.steps}
    for index, step in enumerate(spec.steps):
        path = f"$.steps[{index}]"
        interface = interfaces[step.id]
        if interface is None:
            problems.append(_unknown_module(path, step.module, step.version, policy))
        for name, ref in step.inputs.items():
            source = _source_type(spec, ref, interfaces, ids, f"{path}.inputs.{name}", problems)
            if interface is None:
                continue
            port = interface.inputs.get(name)
            if port is None:
                problems.append(
                    _at(
                        f"{path}.inputs.{name}",
                        "RB-E015",
                        f"step {step.id!r}: module {step.module!r} has no input {name!r}",
                        _did_you_mean(name, interface.inputs, "its inputs are"),
                    )
                )
            elif source is not None and not accepts(port.type, source):
                problems.append(
                    _at(
                        f"{path}.inputs.{name}",
                        "RB-E016",
                        f"step {step.id!r}: input {name!r} of {step.module!r} expects "
                        f"{port.type}, but is given {source}",
                        "wire a value of the right type, or convert it in a module",
                    )
                )
        if interface is not None:
            for name, port in interface.inputs.items():
                if port.required and name not in step.inputs:
                    problems.append(
                        _at(
                            f"{path}.inputs",
                            "RB-E014",
                            f"step {step.id!r}: required input {name!r} ({port.type}) of "
                            f"{step.module!r} is not wired",
                            f"pass {name}=... to rb.step()",
                        )
                    )
    for name, ref in spec.outputs.items():
        _source_type(spec, ref, interfaces, ids, f"$.outputs.{name}", problems, output=True)
    problems.extend(_cycles(spec))
    return problems


def _source_type(
    spec: PipelineSpec,
    ref: LiteralRef | InputRef | OutputRef,
    interfaces: dict[str, ModuleInterface | None],
    ids: Collection[str],
    path: str,
    problems: list[Diagnostic],
    *,
    output: bool = False,
) -> PortType | None:
    if isinstance(ref, LiteralRef):
        return type_of_literal(ref.value)
    if isinstance(ref, InputRef):
        port = spec.inputs.get(ref.input)
        if port is None:
            problems.append(
                _at(
                    path,
                    "RB-E012",
                    f"pipeline input {ref.input!r} does not exist",
                    _did_you_mean(ref.input, spec.inputs, "the pipeline inputs are"),
                )
            )
            return None
        return port.type
    if ref.step not in ids:
        problems.append(
            _at(
                path,
                "RB-E011",
                f"no step has id {ref.step!r}",
                _did_you_mean(ref.step, ids, "the step ids are"),
            )
        )
        return None
    interface = interfaces.get(ref.step)
    if interface is None:
        return None
    if interface.outputs is None:
        problems.append(
            _at(
                path,
                "RB-W001",
                f"output {ref.output!r} of step {ref.step!r} could not be checked: "
                f"module {interface.name!r} does not declare its outputs",
                "annotate the module's return type with a TypedDict",
            )
        )
        return None
    port = interface.outputs.get(ref.output)
    if port is None:
        code = "RB-E020" if output else "RB-E010"
        problems.append(
            _at(
                path,
                code,
                f"step {ref.step!r} (module {interface.name!r}) has no output {ref.output!r}",
                _did_you_mean(ref.output, interface.outputs, "its outputs are"),
            )
        )
        return None
    return port.type


def _unknown_module(path: str, module: str, version: str, policy: WiringPolicy) -> Diagnostic:
    hint = _did_you_mean(module, policy.known_modules, "known modules are")
    if policy.unknown_module == "warning":
        return _at(
            f"{path}.module",
            "RB-W002",
            f"module {module}@{version} is not known here, so its wiring was not checked",
            "pass --modules to check it against the module's code",
        )
    return _at(
        f"{path}.module",
        "RB-E017",
        f"unknown module {module!r} (pinned {module}@{version})",
        hint + "; import the module in the pipeline file or pass --modules",
    )


def _cycles(spec: PipelineSpec) -> list[Diagnostic]:
    """One cycle, if there is any (graphlib finds it in linear time), at its first step."""
    graph = graphlib.TopologicalSorter({s.id: s.upstream() for s in spec.steps})
    try:
        graph.prepare()
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]  # each step feeds the next; the last is the first again
        first = min(cycle[:-1])
        index = next(i for i, s in enumerate(spec.steps) if s.id == first)
        loop = " → ".join([*_rotated(cycle[:-1], first), first])
        return [
            _at(
                f"$.steps[{index}].inputs",
                "RB-E013",
                f"steps {loop} feed each other in a cycle",
                "a step can only read outputs of steps that run before it",
            )
        ]
    return []


def _rotated(cycle: list[str], first: str) -> list[str]:
    start = cycle.index(first)
    return cycle[start:] + cycle[:start]


def _at(path: str, code: str, message: str, hint: str | None) -> Diagnostic:
    return Diagnostic(code, message, Location(json_path=path), hint)


SUGGEST_AMONG = 100
"""Close names are looked for among this many at most: in a spec of thousands of steps, each
reading a missing one, every hint would otherwise compare every id with every other."""
LISTED = 10


def _did_you_mean(word: str, candidates: Collection[str], listing: str) -> str:
    if not candidates:
        return f"{listing} none"
    if len(candidates) > SUGGEST_AMONG:
        return f"{listing} too many to list here ({len(candidates):,}); check the spelling"
    close = difflib.get_close_matches(word, candidates, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    names = sorted(candidates)
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return f"{listing}: {', '.join(names[:LISTED])}{more}"
