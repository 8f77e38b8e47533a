"""The module runner behind :mod:`rainbow.testing` (see there); imported on first use."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from rainbow.engine.workunits import WorkUnit, bind_inputs, load_corpus
from rainbow.sdk.catalog import AnyModule
from rainbow.sdk.invoke import WorkerEnv, invoke
from rainbow.sdk.messages import Result, Task
from rainbow.settings import DEFAULT_MAX_OUTPUT_BYTES
from rainbow.spec.asset import Asset, asset_from_json, is_asset_json
from rainbow.spec.single import module_pipeline

VERSION = "latest"
"""The version a tested module runs as: the code at hand."""


class ModuleFailed(AssertionError):
    """A module's attempt did not succeed. An ``AssertionError``, so that test runners report a
    failed test (with the module's error and traceback), not an error in the test's code."""

    def __init__(self, result: ModuleResult) -> None:
        retried = "retryable" if result.retryable else "permanent: not retried"
        message = f"module {result.module!r} {result.status} ({retried}): {result.error}"
        if result.traceback:
            message += f"\n\nthe module's traceback:\n{result.traceback}"
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class ModuleResult:
    """How one attempt ended, as a worker reports it; outputs carry assets as ``rb.Asset``."""

    module: str
    status: Literal["succeeded", "failed", "timed_out"]
    outputs: Mapping[str, Any]
    metrics: Mapping[str, float]
    timings: Mapping[str, float]
    duration_s: float
    error: str | None
    """``Type: message`` of a failed attempt."""
    traceback: str | None
    retryable: bool
    """Whether the engine would try the step again (always false for a success)."""

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def raise_for_status(self) -> ModuleResult:
        """This result if the attempt succeeded; else fail the test with the module's error."""
        __tracebackhide__ = True  # pytest shows the module's traceback, not this frame
        if not self.succeeded:
            raise ModuleFailed(self)
        return self


class ModuleRunner:
    """Runs modules one attempt at a time, with assets and workdirs under ``root``."""

    def __init__(self, root: Path, *, max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES) -> None:
        self.root = root
        self.max_output_bytes = max_output_bytes
        self._runs = itertools.count(1)

    def run(
        self,
        module: AnyModule,
        inputs: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> ModuleResult:
        """Run ``module`` on ``inputs``, checked as a work unit is (an asset input takes a
        path, relative to the working directory, or an ``rb.Asset``). ``timeout`` defaults to
        the module's own."""
        data = {name: _unit_value(value) for name, value in (inputs or {}).items()}
        bound = bind_inputs(
            data,
            module_pipeline(module.rainbow_interface, VERSION),
            base=Path.cwd(),
            file="the inputs given",
        )
        return self.run_unit(module, WorkUnit(name="inputs", inputs=bound), timeout=timeout)

    def run_unit(
        self, module: AnyModule, unit: WorkUnit, *, timeout: float | None = None
    ) -> ModuleResult:
        """Run ``module`` on a work unit from :func:`load_units`."""
        budget = module.rainbow_interface.timeout if timeout is None else timeout
        task = Task(
            run_id=f"test-{next(self._runs)}",
            step=module.name,
            attempt=1,
            module=module.name,
            version=VERSION,
            inputs=dict(unit.inputs),
            timeout=budget,
            deadline=time.time() + budget,
        )
        env = WorkerEnv(
            assets_url=str(self.root / "assets"),
            work_root=self.root / "work",
            max_output_bytes=self.max_output_bytes,
        )
        return _as_result(module.name, invoke(module, task, env))


def load_units(folder: Path, module: AnyModule) -> list[WorkUnit]:
    """The work units in ``folder``, read as ``rainbow run --corpus`` reads them (``*.json``
    files, or sub-folders holding ``unit.json`` with their assets) and checked against the
    module's inputs; asset paths are relative to each unit's folder."""
    return load_corpus(folder, module_pipeline(module.rainbow_interface, VERSION))


def _unit_value(value: Any) -> Any:
    if isinstance(value, Asset):
        return value.url
    if isinstance(value, Path):
        return str(value)
    return value


def _as_result(module: str, result: Result) -> ModuleResult:
    error = result["error"]
    outputs = {
        name: asset_from_json(value) if is_asset_json(value) else value
        for name, value in (result["outputs"] or {}).items()
    }
    return ModuleResult(
        module=module,
        status=result["status"],
        outputs=MappingProxyType(outputs),
        metrics=MappingProxyType({m["name"]: m["value"] for m in result["metrics"]}),
        timings=MappingProxyType(dict(result["timings"])),
        duration_s=result["duration_s"],
        error=f"{error['type']}: {error['message']}" if error else None,
        traceback=error["traceback"] if error else None,
        retryable=bool(error and error["retryable"]),
    )
