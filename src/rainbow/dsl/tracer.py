"""The tracer that records ``rb.step()`` calls while a pipeline function runs under compile.

It is active only inside :func:`rainbow.dsl.compiler.compile_pipeline` (a context variable, set
and reset there); outside it ``rb.step()`` raises a clear error instead of building a hidden graph.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rainbow.diagnostics import Diagnostic, Location

_RAINBOW_DIR = str(Path(__file__).resolve().parent.parent)


def caller_location() -> Location:
    """The first frame outside Rainbow: the user's file and line."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_RAINBOW_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return Location()
    return Location(file=frame.f_code.co_filename, line=frame.f_lineno)


@dataclass
class StepDraft:
    id: str
    module: str
    version: str
    inputs: dict[str, Any]
    retries: int | None
    timeout: float | None
    where: Location


@dataclass
class Tracer:
    steps: list[StepDraft] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    _used_ids: set[str] = field(default_factory=set)
    _used_scopes: set[str] = field(default_factory=set)

    def unique_id(self, base: str) -> str:
        prefix = ".".join(self.scopes)
        candidate = f"{prefix}.{base}" if prefix else base
        if candidate not in self._used_ids:
            self._used_ids.add(candidate)
            return candidate
        n = 2
        while f"{candidate}-{n}" in self._used_ids:
            n += 1
        self._used_ids.add(f"{candidate}-{n}")
        return f"{candidate}-{n}"

    def enter_scope(self, name: str) -> None:
        """Enter a sub-pipeline's scope, numbered if its path is taken (``masks``, ``masks-2``)."""
        parent = ".".join(self.scopes)
        scope, n = name, 1
        while f"{parent}.{scope}" in self._used_scopes:
            n += 1
            scope = f"{name}-{n}"
        self._used_scopes.add(f"{parent}.{scope}")
        self.scopes.append(scope)

    def exit_scope(self) -> None:
        self.scopes.pop()


ACTIVE: ContextVar[Tracer | None] = ContextVar("rainbow_dsl_tracer", default=None)
