"""Submitting runs to the distributed engine and following them to the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from celery import Celery

from rainbow.engine.celery.events import publish_event
from rainbow.engine.records import RunSummary
from rainbow.engine.store import Store
from rainbow.engine.submission import new_runs
from rainbow.engine.workunits import WorkUnit
from rainbow.spec.models import PipelineSpec

FINISHED = frozenset({"succeeded", "failed", "timed_out", "cancelled"})
POLL_BATCH = 20


def submit(app: Celery, store: Store, spec: PipelineSpec, units: Sequence[WorkUnit]) -> list[str]:
    """Record the runs (pending), then ask the conductor to start them.

    If this process dies between the two, the conductor's sweep starts the runs anyway.
    """
    records = new_runs(spec, units, engine="celery")
    store.write(records)
    for record in records:
        publish_event(app, {"type": "start", "run_id": record.run_id})
    return [record.run_id for record in records]


def wait(
    store: Store,
    run_ids: Sequence[str],
    *,
    on_finish: Callable[[RunSummary], None] | None = None,
    poll_s: float = 0.25,
    timeout_s: float | None = None,
) -> list[RunSummary]:
    """Poll the store until every run has finished (or ``timeout_s`` passed); newest state last."""
    pending = list(run_ids)
    done: dict[str, RunSummary] = {}
    give_up = None if timeout_s is None else time.monotonic() + timeout_s
    while pending and (give_up is None or time.monotonic() < give_up):
        # Runs finish roughly in submission order: look at the oldest few, not all, each poll.
        still = []
        for index, run_id in enumerate(pending):
            detail = store.get_run(run_id) if index < POLL_BATCH else None
            if detail is not None and detail.summary.status in FINISHED:
                done[run_id] = detail.summary
                if on_finish is not None:
                    on_finish(detail.summary)
            else:
                still.append(run_id)
        if len(still) == len(pending):
            time.sleep(poll_s)
        pending = still
    for run_id in pending:
        detail = store.get_run(run_id)
        if detail is not None:
            done[run_id] = detail.summary
    return [done[r] for r in run_ids if r in done]
