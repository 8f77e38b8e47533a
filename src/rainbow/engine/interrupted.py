"""Local runs whose driving process is gone: their lease ran out; any Rainbow process closes them.

A local run lives inside one process (`rainbow run`, or the control plane's local runner). That
process holds a lease on its unfinished runs and renews it while it drives them. If it is killed
(kill -9, a crash, a closed laptop, a container's PID 1 on another host) or can no longer write to
the store (a full disk), the lease runs out; the next Rainbow process that looks at the store
records the run as failed, saying so, with its running attempts aborted. Nothing here guesses
from a host name or a process id, so this holds across hosts and containers.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime

from rainbow.engine.records import AttemptFinished, Change, RunChanged, RunSummary, StepChanged
from rainbow.engine.store import Store

UNFINISHED_STEPS = frozenset({"waiting", "running", "retrying"})

_owners: dict[int, str] = {}


def this_process() -> str:
    """This process as a run owner: ``host:pid`` and a random tag, so a restarted container
    whose entrypoint is PID 1 again never mistakes its predecessor's runs for its own."""
    pid = os.getpid()
    if pid not in _owners:
        _owners[pid] = f"{socket.gethostname()}:{pid}:{secrets.token_hex(3)}"
    return _owners[pid]


def close_abandoned_runs(store: Store, now: datetime) -> list[str]:
    """Record as failed every unfinished local run whose owner's lease ran out before ``now``."""
    closed = []
    for summary in store.abandoned_runs(now):
        if _close(store, summary, now):
            closed.append(summary.run_id)
    return closed


def abandoned_reason(summary: RunSummary) -> str:
    last = summary.lease_until.strftime("%Y-%m-%d %H:%M:%S UTC") if summary.lease_until else "?"
    return (
        f"abandoned: the process driving it ({summary.owner}) stopped renewing its lease "
        f"(held until {last}) before the run finished: it was killed, crashed, or could not "
        "write to the store (see its output or log); run the work unit again"
    )


def _close(store: Store, summary: RunSummary, now: datetime) -> bool:
    if not store.take_over(summary.run_id, summary.owner, this_process(), now):
        return False  # it ended, its owner renewed the lease, or another process took it
    detail = store.get_run(summary.run_id)
    if detail is None:
        return False
    run_id, reason = summary.run_id, abandoned_reason(summary)
    changes: list[Change] = []
    for step in detail.steps:
        for attempt in step.attempts:
            if attempt.status == "running":
                took = (now - attempt.started_at).total_seconds()
                changes.append(
                    AttemptFinished(
                        run_id,
                        step.step,
                        attempt.attempt,
                        "aborted",
                        now,
                        took,
                        error_type="Abandoned",
                        error_message=reason,
                    )
                )
        if step.status in UNFINISHED_STEPS:
            tries = max((a.attempt for a in step.attempts), default=0)
            changes.append(StepChanged(run_id, step.step, "cancelled", tries, step.outputs))
    changes.append(RunChanged(run_id, "failed", now, reason))
    store.write(changes)
    return True
