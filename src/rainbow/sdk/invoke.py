"""Call one module for one attempt: the worker skeleton shared by every executor.

The call goes through ordered middleware, each one cross-cutting concern around the next:
queue wait observed → log context → asset sync → output check → step timeout → the module;
how the attempt ended is told to the worker's observer last. Whatever the module does,
``invoke`` returns a :class:`~rainbow.sdk.messages.Result`; it never raises for a module's
failure, and every text in it is one the run store can hold.
"""

from __future__ import annotations

import reprlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rainbow.errors import PermanentError, Retry, StepTimeout
from rainbow.observe.facts import AttemptEnded, AttemptWaited, Observer, ignore
from rainbow.observe.logging import bound
from rainbow.sdk.assets_sync import AssetStore, AssetStoreError, UnreadableAsset
from rainbow.sdk.catalog import AnyModule
from rainbow.sdk.command import CommandModule
from rainbow.sdk.command_runner import CommandFailed, run_command
from rainbow.sdk.context import Context, Metric
from rainbow.sdk.files import FileSyncError, sync_out_patterns, synced
from rainbow.sdk.messages import ErrorInfo, MetricInfo, Result, Task
from rainbow.sdk.module import PythonModule
from rainbow.sdk.outputs import OutputError, check_outputs_storable
from rainbow.settings import DEFAULT_MAX_OUTPUT_BYTES
from rainbow.spec.asset import Asset
from rainbow.spec.types import accepts, type_of_literal
from rainbow.storable import bounded_text, storable_name
from rainbow.tracebacks import raised_by_user_code, user_traceback


@dataclass
class Invocation:
    module: AnyModule
    task: Task
    ctx: Context
    inputs: dict[str, Any]
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES


Call = Callable[[Invocation], dict[str, Any]]
Middleware = Callable[[Invocation, Call], dict[str, Any]]


def make_queue_wait_observer(observe: Observer) -> Middleware:
    def observe_queue_wait(invocation: Invocation, call_next: Call) -> dict[str, Any]:
        task = invocation.task
        queued_at = task.get("queued_at")
        if queued_at is not None:
            waited = max(0.0, time.time() - queued_at)
            observe([AttemptWaited(task["module"], task["version"], waited)])
        return call_next(invocation)

    return observe_queue_wait


def bind_log_context(invocation: Invocation, call_next: Call) -> dict[str, Any]:
    with bound(**invocation.ctx.describe()):
        return call_next(invocation)


def make_asset_sync(store: AssetStore) -> Middleware:
    def sync_assets(invocation: Invocation, call_next: Call) -> dict[str, Any]:
        invocation.inputs = store.materialize(invocation.inputs, invocation.ctx)
        outputs = call_next(invocation)
        return store.publish(outputs, invocation.ctx)

    return sync_assets


def make_file_sync(store: AssetStore, root: Path) -> Middleware:
    """The module's declared files in (once per process), and what its ``[sync] out``
    patterns match in the workdir out, after its declared outputs."""

    def sync_files(invocation: Invocation, call_next: Call) -> dict[str, Any]:
        invocation.ctx.files = synced(invocation.module, root)
        outputs = call_next(invocation)
        patterns = sync_out_patterns(invocation.module, root)
        if patterns and invocation.ctx.workdir_used:
            published = store.publish_matching(patterns, invocation.ctx)
            if published:
                invocation.ctx.log.info("synced out", files=len(published), first=published[0])
        return outputs

    return sync_files


def make_output_check(max_bytes: int) -> Middleware:
    def check_output_values(invocation: Invocation, call_next: Call) -> dict[str, Any]:
        outputs = call_next(invocation)
        check_outputs_storable(outputs, invocation.ctx.module, max_bytes)
        return outputs

    return check_output_values


def enforce_step_timeout(invocation: Invocation, call_next: Call) -> dict[str, Any]:
    with invocation.ctx.timeout("step", step_budget(invocation.task)):
        return call_next(invocation)


def step_budget(task: Task) -> float:
    """The step's timeout, clipped to what is left of the run's deadline (timeouts nest)."""
    left = task["deadline"] - time.time()
    return max(min(task["timeout"], left), 0.001)


def call_module(invocation: Invocation) -> dict[str, Any]:
    module = invocation.module
    if isinstance(module, CommandModule):
        outputs = run_command(
            module,
            invocation.inputs,
            invocation.ctx,
            step_budget(invocation.task),
            max_output_bytes=invocation.max_output_bytes,
        )
    else:
        outputs = _as_outputs(module, module.fn(invocation.ctx, **invocation.inputs))
    check_outputs(module, outputs)
    return outputs


def _as_outputs(module: PythonModule, returned: Any) -> dict[str, Any]:
    if returned is None:
        return {}
    if hasattr(returned, "model_dump"):
        returned = dict(returned)
    if not isinstance(returned, dict):
        raise OutputError(
            f"module {module.name!r} returned {type(returned).__name__}; "
            "a module returns a dict of its outputs"
        )
    return returned


@dataclass(frozen=True)
class WorkerEnv:
    """Where a worker keeps attempt workdirs and publishes output assets, and how much JSON a
    module's outputs may be (``RAINBOW_MAX_OUTPUT_BYTES``)."""

    assets_url: str
    work_root: Path
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    observe: Observer = ignore
    """Told how long each attempt waited and how it ended; a local pool's children tell
    nothing (their parent engine does)."""
    files_root: Path | None = None
    """Where modules' declared files are cached by hash (``<RAINBOW_HOME>/files``)."""

    @property
    def files_cache(self) -> Path:
        return self.files_root or self.work_root.parent / "files"


def invoke(module: AnyModule, task: Task, env: WorkerEnv) -> Result:
    """Run one attempt and describe its outcome as a JSON-able result."""
    started = time.perf_counter()
    workdir = Path(f"{env.work_root}/{task['run_id']}/{task['step']}/{task['attempt']}")
    ctx = Context(
        run_id=task["run_id"],
        step=task["step"],
        module=task["module"],
        version=task["version"],
        attempt=task["attempt"],
        workdir=workdir,
    )
    store = AssetStore(env.assets_url)
    chain: list[Middleware] = [
        make_queue_wait_observer(env.observe),
        bind_log_context,
        make_file_sync(store, env.files_cache),
        make_asset_sync(store),
        make_output_check(env.max_output_bytes),
        enforce_step_timeout,
    ]
    invocation = Invocation(module, task, ctx, dict(task["inputs"]), env.max_output_bytes)
    error: ErrorInfo | None = None
    outputs: dict[str, Any] | None = None
    status = "succeeded"
    try:
        outputs = _run_chain(chain, invocation)
    except StepTimeout as exc:
        status, error = "timed_out", _error(exc, retryable=True)
    except Retry as exc:
        status, error = "failed", _error(exc, retryable=True, delay=exc.delay)
    except (PermanentError, UnreadableAsset, OutputError) as exc:
        status, error = "failed", _error(exc, retryable=False)
    except SystemExit as exc:
        if not raised_by_user_code(exc):
            raise  # the worker itself is being shut down: not this attempt's outcome
        message = f"the module called sys.exit({exc.code!r}); a module returns or raises instead"
        status, error = "failed", _error(PermanentError(message), retryable=False)
    except (CommandFailed, AssetStoreError, FileSyncError) as exc:
        # Neither is the module's own exception, so retry_on does not decide for them.
        status, error = "failed", _error(exc, retryable=exc.retryable, with_traceback=False)
    except Exception as exc:  # the module's own bug or a transient failure
        listed: tuple[type[BaseException], ...] = getattr(module, "retry_on", ())
        status, error = "failed", _error(exc, retryable=not listed or isinstance(exc, listed))
    finally:
        if ctx.workdir_used:
            shutil.rmtree(workdir, ignore_errors=True)
    result = Result(
        run_id=task["run_id"],
        step=task["step"],
        attempt=task["attempt"],
        status=status,  # type: ignore[typeddict-item]
        outputs=outputs if status == "succeeded" else None,
        metrics=[_metric_info(m) for m in ctx.metrics],
        timings={storable_name(str(k)): v for k, v in ctx.timeouts.timings.items()},
        duration_s=time.perf_counter() - started,
        error=error,
        finished_at=time.time(),
    )
    env.observe([attempt_ended(task, result)])
    return result


def attempt_ended(task: Task, result: Result) -> AttemptEnded:
    return AttemptEnded(
        task["module"], task["version"], result["status"], result["duration_s"], result["timings"]
    )


def _run_chain(chain: list[Middleware], invocation: Invocation) -> dict[str, Any]:
    def at(index: int) -> Call:
        if index == len(chain):
            return call_module
        return lambda inv: chain[index](inv, at(index + 1))

    return at(0)(invocation)


def check_outputs(module: AnyModule, outputs: dict[str, Any]) -> None:
    """Outputs match the declared interface: the next step must get what the spec promised."""
    declared = module.rainbow_interface.outputs
    if declared is None:
        return
    missing = sorted(set(declared) - set(outputs))
    if missing:
        raise OutputError(
            f"module {module.name!r} did not return its declared output(s) {', '.join(missing)}; "
            f"it returned {sorted(outputs) or 'nothing'}"
        )
    for name, port in declared.items():
        given = "asset" if isinstance(outputs[name], Asset) else type_of_literal(outputs[name])
        if not accepts(port.type, given):
            raise OutputError(
                f"module {module.name!r}: output {name!r} is declared {port.type} but the module "
                f"returned {type(outputs[name]).__name__} {reprlib.repr(outputs[name])}"
            )


def _error(
    exc: BaseException,
    *,
    retryable: bool,
    delay: float | None = None,
    with_traceback: bool = True,
) -> ErrorInfo:
    traceback = user_traceback(exc) if with_traceback else None
    return ErrorInfo(
        type=storable_name(type(exc).__name__, 300),
        message=bounded_text(str(exc) or type(exc).__name__),
        traceback=bounded_text(traceback) if traceback is not None else None,
        retryable=retryable,
        delay=delay,
    )


def _metric_info(metric: Metric) -> MetricInfo:
    tolerance = metric.tolerance
    return MetricInfo(
        name=storable_name(str(metric.name)),
        value=metric.value,
        better=metric.better,
        kind=metric.kind,
        tolerance_absolute=None if tolerance is None else tolerance.absolute,
        tolerance_relative=None if tolerance is None else tolerance.relative,
    )
