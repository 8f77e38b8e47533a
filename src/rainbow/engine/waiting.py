"""Why a run is not moving: which steps wait in a queue, and does anyone serve it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from rainbow.engine.ledger import Instance
from rainbow.engine.naming import queue_name
from rainbow.engine.records import RunDetail

LIVE_WITHIN = timedelta(seconds=30)
"""An instance that announced itself this recently is alive (workers announce every 10 s)."""


def waiting_reasons(
    detail: RunDetail, instances: Sequence[Instance], now: datetime
) -> dict[str, str]:
    """For each step whose attempt waits in its queue, why; empty when nothing waits."""
    if detail.summary.status not in ("pending", "running"):
        return {}
    if detail.summary.engine == "local":
        return _local_reasons(detail)
    pins = {s["id"]: (s["module"], s["version"]) for s in detail.spec.get("steps", [])}
    live = {(i.module, i.version) for i in instances if now - i.seen_at <= LIVE_WITHIN}
    reasons = {}
    for step in detail.steps:
        running = step.attempts and step.attempts[-1].status == "running"
        if step.status != "running" or running or step.step not in pins:
            continue
        module, version = pins[step.step]
        queue = queue_name(module, version)
        if (module, version) in live:
            reasons[step.step] = f"queued on {queue}: every {module}@{version} worker is busy"
        else:
            reasons[step.step] = (
                f"queued on {queue}: no live instance of {module}@{version}; start one "
                f"with `rainbow worker {module}@{version}` (a released version) or "
                f"`rainbow worker <module code> --version {version}`"
            )
    return reasons


def _local_reasons(detail: RunDetail) -> dict[str, str]:
    """A local run waits inside the process that holds it, never on a broker queue."""
    run = detail.summary
    if not run.owner:
        return {
            "run": "waiting for the control plane's local runner (`rainbow web` with "
            "RAINBOW_ENGINE=local) to take it"
        }
    held = f" until {run.lease_until:%H:%M:%S} UTC" if run.lease_until else ""
    where = (
        f"queued in the local engine of {run.owner}, which holds the run{held} and renews "
        "that while it runs; if that process died, the next Rainbow command closes the run"
    )
    waiting = {
        step.step: where
        for step in detail.steps
        if step.status == "running"
        and not (step.attempts and step.attempts[-1].status == "running")
    }
    return waiting or ({"run": where} if run.status == "pending" else {})
