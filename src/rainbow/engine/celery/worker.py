"""A worker: serves one module version on its instance queue, one attempt per message.

Each message is one attempt. The worker runs the module through the SDK's ``invoke`` (log
context, asset sync, timeouts), telling the conductor it started if it runs long, publishes the
result and only then acks (``acks_late``). If its process dies first, the message goes back to
the queue; after ``DELIVERY_LIMIT`` redeliveries RabbitMQ dead-letters it and the conductor fails
the step. How each attempt waited and ended is told to the worker's observer (its metrics), here
where it ran, and only here.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from billiard.exceptions import WorkerLostError
from celery import Celery, signals
from celery.worker.request import Request

from rainbow.engine import wire
from rainbow.engine.celery.app import STEP_TASK
from rainbow.engine.celery.consumer import tell_rejections_to
from rainbow.engine.celery.events import publish_event
from rainbow.engine.celery.topology import instance_queue
from rainbow.observe.facts import Observer, ignore
from rainbow.sdk.catalog import AnyModule
from rainbow.sdk.invoke import WorkerEnv, attempt_ended, invoke
from rainbow.sdk.messages import Result, Task
from rainbow.vcs import code_state

log = logging.getLogger("rainbow.worker")

HEARTBEAT_S = 10.0
STARTED_AFTER_S = 1.0
"""Only an attempt still running after this long tells the conductor it started (which starts its
watchdog); a shorter one sends just its result, which says when and where it started. Every
message costs the broker a quorum write: one message per step instead of two is most of the
engine's throughput. A worker dying before then loses nothing: the broker delivers the message
again."""


@dataclass(frozen=True)
class Build:
    """What this worker runs: its code's commit, and the released artifact's hash (empty when
    it serves local code). Every attempt it reports carries both."""

    commit: str = ""
    artifact: str = ""


def register_step_task(app: Celery, module: AnyModule, env: WorkerEnv, build: Build) -> None:
    """The one task this worker runs: an attempt of ``module``."""

    @app.task(name=STEP_TASK, bind=True, acks_late=True, ignore_result=True, Request=StepRequest)
    def step(self: Any, raw: object) -> None:
        try:
            task = _task_for(raw, module)
        except wire.Malformed as exc:
            log.error("rejected malformed task message %.300r: %s", raw, exc)
            ids = raw if isinstance(raw, dict) else {}
            if all(isinstance(ids.get(k), str) for k in ("run_id", "step")):
                refusal = _failure(ids, "MalformedTask", f"the worker could not read it: {exc}")
                publish_event(app, wire.AttemptReported(refusal))
            return
        started_at, worker, delivery = time.time(), worker_name(), delivery_of(self.request)
        began = wire.AttemptBegan(
            task["run_id"],
            task["step"],
            task["attempt"],
            started_at,
            worker,
            delivery,
            build.commit,
            build.artifact,
        )
        announce = threading.Timer(STARTED_AFTER_S, _announce, args=(app, began))
        announce.daemon = True
        announce.start()
        try:
            result = invoke(module, task, env)
        finally:
            announce.cancel()
        reported = wire.AttemptReported(
            result, started_at, worker, delivery, build.commit, build.artifact
        )
        publish_event(app, reported)


def _task_for(raw: object, module: AnyModule) -> Task:
    task = wire.parse_task(raw)
    if task["module"] != module.name:
        serves = f"this worker serves {module.name!r}, not {task['module']!r}"
        raise wire.Malformed("task.module", serves)
    return task


def delivery_of(request: Any) -> int:
    """Which delivery of its message a task is: quorum queues count the earlier ones in a
    header (which Celery copies onto the request); a classic queue only flags a redelivery."""
    count = getattr(request, "x-delivery-count", None)
    if isinstance(count, int) and count >= 0:
        return count + 1
    return 2 if (request.delivery_info or {}).get("redelivered") else 1


def _announce(app: Celery, event: wire.AttemptBegan) -> None:
    try:
        publish_event(app, event)
    except Exception:  # the result still records the attempt; only its watchdog starts later
        log.warning("could not announce a started attempt", exc_info=True)


class StepRequest(Request):
    """Runs in the worker's main process: tells the conductor when a child died mid-attempt.

    The message itself goes back to the queue (``task_reject_on_worker_lost``) and is delivered
    again; the conductor records the loss, with its signal, on the attempt.
    """

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        error = getattr(exc_info, "exception", None)
        error = getattr(error, "exc", error)  # unwrap billiard's ExceptionWithTraceback
        task = self.args[0] if self.args else None
        died = _readable(task) if isinstance(error, WorkerLostError) else None
        if died is not None:
            found = re.search(r"signal (\d+)", str(error))
            event = wire.AttemptWorkerDied(
                died["run_id"],
                died["step"],
                died["attempt"],
                int(found.group(1)) if found else None,
                str(error),
            )
            try:
                publish_event(self.task.app, event)
            except Exception:  # the redelivery still happens; the record is only less precise
                log.warning("could not report a lost worker", exc_info=True)
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def on_timeout(self, soft: bool, timeout: float) -> None:
        task = _readable(self.args[0] if self.args else None)
        if not soft and task is not None:
            message = (
                f"killed after {timeout:g}s: past its timeout and deaf to it (SIGALRM blocked?)"
            )
            result = _failure(task, "StepTimeout", message, retryable=True, status="timed_out")
            _observe([attempt_ended(task, result)])
            try:
                publish_event(self.task.app, wire.AttemptReported(result))
            except Exception:  # the watchdog fails the attempt later instead
                log.warning("could not report a hard time limit", exc_info=True)
        super().on_timeout(soft, timeout)


def _readable(raw: object) -> Task | None:
    try:
        return wire.parse_task(raw)
    except wire.Malformed:
        return None


def _failure(
    task: Mapping[str, Any],
    error_type: str,
    message: str,
    *,
    retryable: bool = False,
    status: Literal["failed", "timed_out"] = "failed",
) -> Result:
    return Result(
        run_id=task["run_id"],
        step=task["step"],
        attempt=int(task.get("attempt") or 0),
        status=status,
        outputs=None,
        metrics=[],
        timings={},
        duration_s=0.0,
        error={
            "type": error_type,
            "message": message,
            "traceback": None,
            "retryable": retryable,
            "delay": None,
        },
    )


_identity: str | None = None
_observe: Observer = ignore
"""The worker's observer, for the hard time limits its main process reports (a lost child is
the conductor's to tell: it decides that attempt's end)."""


def worker_name() -> str:
    """host:pid of the worker's main process, the same in its prefork children."""
    return _identity or f"{socket.gethostname()}:{os.getpid()}"


def code_commit(module: AnyModule) -> str:
    """The git commit of the module's code, when it lives in a git checkout."""
    return code_state(Path(module.ref.file or "."))[0]


class Announcer:
    """Tells the conductor, now and every ``HEARTBEAT_S``, which module version this serves."""

    def __init__(self, app: Celery, module: AnyModule, version: str, build: Build) -> None:
        self._event = wire.InstanceSeen(
            module.name,
            version,
            worker_name(),
            build.commit,
            module.rainbow_interface.model_dump(mode="json"),
            build.artifact,
        )
        self._app = app
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rainbow-announcer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                publish_event(self._app, self._event)
            except Exception:  # the broker is away; the next beat tries again
                log.warning("could not announce this instance", exc_info=True)
            self._stop.wait(HEARTBEAT_S)


def serve(
    app: Celery,
    module: AnyModule,
    version: str,
    env: WorkerEnv,
    *,
    concurrency: int,
    build: Build | None = None,
) -> None:
    """Run a Celery worker for ``module@version`` until it is told to stop (SIGTERM: warm);
    without a ``build``, it serves local code at that code's commit."""
    global _identity, _observe  # noqa: PLW0603 - set once, before the pool forks
    _identity = f"{socket.gethostname()}:{os.getpid()}"
    _observe = env.observe
    tell_rejections_to(env.observe)
    queue = instance_queue(module.name, version)
    app.conf.task_queues = [queue]
    build = build or Build(code_commit(module))
    register_step_task(app, module, env, build)
    announcer = Announcer(app, module, version, build)
    signals.worker_ready.connect(lambda **_: announcer.start(), weak=False)
    signals.worker_shutdown.connect(lambda **_: announcer.stop(), weak=False)
    worker = app.Worker(
        queues=[queue.name],
        concurrency=concurrency,
        pool="prefork",
        # One node per process: two workers of one version on a host must not share a name.
        hostname=f"rainbow.{module.name}.{version}.{os.getpid()}@{socket.gethostname()}",
        loglevel="INFO",
        without_gossip=True,
        without_mingle=True,
    )
    worker.start()
