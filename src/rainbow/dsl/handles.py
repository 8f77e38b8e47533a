"""What DSL calls return while a pipeline is traced: references, not values.

A handle is plain data naming where a value will come from. Handles support attribute access for
outputs (``seg.mask``) and nothing else: no operators, so a pipeline cannot compute on values
it does not have yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from rainbow.diagnostics import Location
from rainbow.dsl.tracer import caller_location


@dataclass(frozen=True)
class InputHandle:
    """A pipeline input."""

    name: str
    where: Location


@dataclass(frozen=True)
class OutputHandle:
    """One output of one step, and where in the user's code it was read."""

    step: str
    output: str
    where: Location


class StepHandle:
    """The result of ``rb.step()``: read outputs as attributes (``seg.mask``) or items."""

    def __init__(self, step_id: str, module: str, where: Location) -> None:
        self._step_id = step_id
        self._module = module
        self._where = where

    @property
    def step_id(self) -> str:
        return self._step_id

    def __getattr__(self, output: str) -> OutputHandle:
        if output.startswith("_"):
            raise AttributeError(output)
        return OutputHandle(self._step_id, output, caller_location())

    def __getitem__(self, output: str) -> OutputHandle:
        return self.__getattr__(output)

    def __repr__(self) -> str:
        return f"<step {self._step_id} ({self._module})>"


Handle = InputHandle | OutputHandle
