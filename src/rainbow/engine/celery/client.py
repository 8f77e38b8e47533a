"""Submitting runs to the distributed engine and following them to the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from celery import Celery

from rainbow.engine import wire
from rainbow.engine.celery.events import publish_event
from rainbow.engine.machine import FINISHED_RUN
from rainbow.engine.records import RunSummary
from rainbow.engine.store import Store
from rainbow.engine.submission import new_runs
from rainbow.engine.workunits import WorkUnit
from rainbow.spec.models import PipelineSpec

FINISHED = FINISHED_RUN
STALL_S = 15.0


def submit(
    app: Celery,
    store: Store,
    spec: PipelineSpec,
    units: Sequence[WorkUnit],
    *,
    environment: str = "",
    submitted_by: str = "",
) -> list[str]:
    """Record the runs (pending), then ask the conductor to start them.

    If this process dies between the two, the conductor's sweep starts the runs anyway.
    """
    records = new_runs(
        spec, units, engine="celery", environment=environment, submitted_by=submitted_by
    )
    store.write(records)
    for record in records:
        publish_event(app, wire.StartRun(record.run_id))
    return [record.run_id for record in records]


def wait(
    store: Store,
    run_ids: Sequence[str],
    *,
    on_finish: Callable[[RunSummary], None] | None = None,
    on_stall: Callable[[], None] | None = None,
    poll_s: float = 0.25,
    timeout_s: float | None = None,
) -> list[RunSummary]:
    """Poll the store until every run has finished (or ``timeout_s`` passed).

    ``on_stall`` is called once if, after ``STALL_S``, no run has even started: usually no
    conductor is reading this store and this broker.
    """
    pending = set(run_ids)
    began = time.monotonic()
    give_up = None if timeout_s is None else began + timeout_s
    while pending and (give_up is None or time.monotonic() < give_up):
        statuses = store.run_statuses(list(pending))
        if on_stall is not None and time.monotonic() - began > STALL_S:
            if all(status == "pending" for status in statuses.values()):
                on_stall()
            on_stall = None
        finished = [r for r, s in statuses.items() if s in FINISHED]
        for run_id in finished:
            pending.discard(run_id)
            if on_finish is not None:
                detail = store.get_run(run_id)
                if detail is not None:
                    on_finish(detail.summary)
        if pending:
            time.sleep(poll_s)
    details = [store.get_run(run_id) for run_id in run_ids]
    return [d.summary for d in details if d is not None]


def wait_for_resumed(
    store: Store, run_id: str, ended_at: datetime | None, *, poll_s: float = 0.25
) -> str:
    """Wait until a resumed run has ended again: an end time after ``ended_at`` (the end it
    had when it was resumed), however fast the new end came."""
    while True:
        detail = store.get_run(run_id)
        if detail is not None:
            run = detail.summary
            if run.status in FINISHED and run.finished_at != ended_at:
                return run.status
        time.sleep(poll_s)


def ask_retry(app: Celery, run_id: str) -> None:
    """Ask the conductor to run a finished, unsuccessful run again from its failed steps."""
    publish_event(app, wire.RetryRun(run_id))


def ask_cancel(app: Celery, run_id: str, reason: str) -> None:
    publish_event(app, wire.CancelRun(run_id, reason))
