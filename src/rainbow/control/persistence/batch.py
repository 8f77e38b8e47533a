"""A write batch folded into one final state per row, so the store writes each row once.

The engine sends changes in order, and several in one batch often touch the same row: a step goes
running then succeeded, an attempt starts and finishes. Folding them before any SQL turns a batch
of hundreds of changes into a handful of bulk statements. Applying the folded batch gives the same
rows as applying the changes one by one, as ``MemoryStore`` does. Pure Python: no Django here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rainbow.engine.records import (
    AttemptFinished,
    AttemptRedelivered,
    AttemptStarted,
    Change,
    RunChanged,
    RunCreated,
    StepCached,
    StepChanged,
)
from rainbow.errors import StoreRefused

StepKey = tuple[str, str]
"""(run_id, step)"""
AttemptKey = tuple[str, str, int]
"""(run_id, step, attempt)"""

_UNFINISHED_RUN = ("pending", "running")


@dataclass
class RunFold:
    """The combined effect of a batch's RunChanged changes on one run."""

    status: str = "pending"
    reason: str | None = None
    outputs: Mapping[str, Any] | None = None
    """None keeps the stored outputs."""
    running_at: datetime | None = None
    """When the run first went running in this batch: its ``started_at`` unless already set."""
    finished_at: datetime | None = None
    """When the run ended; None while it runs (a resumed run is not finished any more)."""

    def apply(self, change: RunChanged) -> None:
        self.status = change.status
        self.reason = change.reason
        if change.outputs is not None:
            self.outputs = change.outputs
        if change.status == "running" and self.running_at is None:
            self.running_at = change.at
        self.finished_at = None if change.status in _UNFINISHED_RUN else change.at


@dataclass
class AttemptFold:
    """A batch's changes to one attempt: ``started`` (re)creates its row, ``finished`` ends it."""

    started: AttemptStarted | None = None
    finished: AttemptFinished | None = None
    redelivered: int = 0
    """The highest later delivery seen of an attempt already stored (0: none)."""


@dataclass
class Batch:
    """A folded write: the runs it creates and the final state it gives each row it touches."""

    created: dict[str, RunCreated] = field(default_factory=dict)
    runs: dict[str, RunFold] = field(default_factory=dict)
    steps: dict[StepKey, StepChanged] = field(default_factory=dict)
    """The last change of each step: a StepChanged replaces the whole step state."""
    attempts: dict[AttemptKey, AttemptFold] = field(default_factory=dict)
    cached: list[StepCached] = field(default_factory=list)
    """Step cache entries, written after the attempts they came from."""

    def run_fold(self, run_id: str) -> RunFold:
        return self.runs.get(run_id) or RunFold()


def fold(changes: Sequence[Change]) -> Batch:
    """Fold ``changes`` into a batch; raise PlatformError if they contradict themselves."""
    batch = Batch()
    changed_uncreated: set[str] = set()
    for change in changes:
        if isinstance(change, StepCached):
            batch.cached.append(change)
            continue
        if isinstance(change, RunCreated):
            if change.run_id in batch.created or change.run_id in changed_uncreated:
                raise StoreRefused(
                    f"run {change.run_id!r} is created twice, or after changes to it, in one write"
                )
            batch.created[change.run_id] = change
            continue
        if change.run_id not in batch.created:
            changed_uncreated.add(change.run_id)
        if isinstance(change, RunChanged):
            batch.runs.setdefault(change.run_id, RunFold()).apply(change)
        elif isinstance(change, StepChanged):
            batch.steps[(change.run_id, change.step)] = change
        elif isinstance(change, AttemptStarted):
            key = (change.run_id, change.step, change.attempt)
            batch.attempts[key] = AttemptFold(started=change)
        elif isinstance(change, AttemptRedelivered):
            key = (change.run_id, change.step, change.attempt)
            fold = batch.attempts.setdefault(key, AttemptFold())
            fold.redelivered = max(fold.redelivered, change.delivery)
        else:
            key = (change.run_id, change.step, change.attempt)
            batch.attempts.setdefault(key, AttemptFold()).finished = change
    return batch
