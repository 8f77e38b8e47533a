"""Local runs whose driving process died: found at the next start and recorded as cancelled.

A local run lives inside one `rainbow run` process. If that process is killed (kill -9, a crash,
a closed laptop), its unfinished runs would stay "running" in the store forever; the next local
engine on the same host finds them by their owner (host:pid) and closes them honestly.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime

from rainbow.engine.records import AttemptFinished, Change, RunChanged, StepChanged
from rainbow.engine.store import Store

UNFINISHED_STEPS = frozenset({"waiting", "running", "retrying"})


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def close_interrupted_runs(store: Store, now: datetime) -> list[str]:
    """Record as cancelled the unfinished local runs of dead processes on this host."""
    host = socket.gethostname()
    closed = []
    for status in ("pending", "running"):
        for summary in store.list_runs(limit=100_000, status=status):
            owner_host, _, pid = summary.owner.rpartition(":")
            if summary.engine != "local" or owner_host != host or not pid.isdigit():
                continue
            if _alive(int(pid)):
                continue
            _close(store, summary.run_id, summary.owner, now)
            closed.append(summary.run_id)
    return closed


def _close(store: Store, run_id: str, owner: str, now: datetime) -> None:
    detail = store.get_run(run_id)
    if detail is None:
        return
    reason = f"interrupted: the process running it ({owner}) died before it finished"
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
                        error_type="Interrupted",
                        error_message=reason,
                    )
                )
        if step.status in UNFINISHED_STEPS:
            tries = max((a.attempt for a in step.attempts), default=0)
            changes.append(StepChanged(run_id, step.step, "cancelled", tries, step.outputs))
    changes.append(RunChanged(run_id, "cancelled", now, reason))
    store.write(changes)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
