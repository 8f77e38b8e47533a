"""What a conductor keeps durably beyond runs, steps and attempts: timers, an outbox, instances.

A conductor may be killed at any moment, and several may run at once. So every decision it makes
about runs happens inside :meth:`Ledger.locked_many` (a transaction holding the runs' row locks),
and everything that must happen later is written down in that same transaction:

- **timers** (a retry due, a run deadline, an attempt's watchdog) fire from the database, not from
  a process's memory, so they survive restarts; a timer is deleted in the transaction of the
  decision it causes, so none is lost, and one that a resume or another conductor ended first is
  recognised and ignored;
- the **outbox** holds the task messages a decision produced; they are published after commit and
  deleted once the broker confirmed them, and a sweep republishes any a crash left behind;
- **instances** are the workers that announced themselves, so a run waiting for a version that no
  worker serves can say so.

``control`` implements this with the Django ORM; :class:`MemoryLedger` is the in-memory twin.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from rainbow.engine.machine import RunState, StepState
from rainbow.engine.store import MemoryStore, Store
from rainbow.spec.models import PipelineSpec

TimerKind = Literal["retry", "deadline", "watchdog"]


@dataclass(frozen=True)
class Timer:
    run_id: str
    kind: TimerKind
    due_at: datetime
    step: str = ""
    attempt: int = 0
    id: int = 0


@dataclass(frozen=True)
class OutboxMessage:
    queue: str
    body: Mapping[str, Any]
    created_at: datetime
    id: int = 0


@dataclass(frozen=True)
class Instance:
    """A worker serving one module version, as it last announced itself."""

    module: str
    version: str
    worker: str
    seen_at: datetime
    commit: str = ""
    interface: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """One run as the state machine needs it, read under the run's lock."""

    run_id: str
    spec: PipelineSpec
    inputs: Mapping[str, Any]
    state: RunState
    started_at: datetime | None = None
    recorded_attempts: frozenset[tuple[str, int]] = frozenset()
    deadline_at: datetime | None = None
    """When the run times out: the due time of its pending deadline timer."""
    timers: tuple[Timer, ...] = ()
    """The run's pending timers: one fired by a conductor that lost a race is no longer here."""

    def pending_timers(
        self, kind: TimerKind, step: str | None = None, attempt: int | None = None
    ) -> list[Timer]:
        return [
            t
            for t in self.timers
            if t.kind == kind
            and (step is None or t.step == step)
            and (attempt is None or t.attempt == attempt)
        ]

    """(step, attempt) of the attempts that already have a record."""

    def with_state(self, state: RunState) -> Snapshot:
        return replace(self, state=state)


class Ledger(Store, Protocol):
    @contextmanager
    def locked_many(self, run_ids: Sequence[str]) -> Iterator[dict[str, Snapshot]]:
        """A transaction holding these runs' locks (taken in id order, so two conductors never
        deadlock); the snapshots of those that exist. Writes made inside commit with it."""
        yield {}

    def add_timers(self, timers: Sequence[Timer]) -> None: ...

    def delete_timers(self, ids: Sequence[int]) -> None:
        """Drop pending timers: fired ones, a resumed run's old deadline, a restarted watchdog."""
        ...

    def due_timers(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        """Timers due by ``now``. They stay stored until the decision that fires them commits
        (it deletes them), so a conductor dying in between loses none."""
        ...

    def add_outbox(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        """Store messages to publish; returns them with their ids."""
        ...

    def republish_stranded(
        self,
        older_than: datetime,
        publish: Callable[[Sequence[OutboxMessage]], None],
        *,
        limit: int = 100,
    ) -> int:
        """Publish outbox messages older than ``older_than`` and delete them, holding them
        locked meanwhile so two conductors never both republish one. Returns how many."""
        ...

    def delete_outbox(self, ids: Sequence[int]) -> None: ...

    def unstarted_runs(self, older_than: datetime, *, limit: int = 100) -> list[str]:
        """Pending runs created before ``older_than``: their start event may have been lost."""
        ...

    def record_instance(self, instance: Instance) -> None: ...

    def retired_versions(self) -> dict[tuple[str, str], str]:
        """Retired module versions, by (module, version), with the reason they were retired."""
        ...

    def running_attempts(self) -> dict[tuple[str, str], int]:
        """Attempts a worker is running now, by (module, version): a queue's unacked messages."""
        ...

    def instances(self) -> list[Instance]: ...

    def prune_instances(self, older_than: datetime) -> int:
        """Forget workers not heard from since ``older_than``; how many were forgotten."""
        ...

    def reconnect(self) -> None:
        """Drop a connection the store broke, so the next call opens a new one."""


def known_spec(spec_hash: str) -> PipelineSpec | None:
    """The spec of ``spec_hash`` if this process parsed it already: a ledger then need not
    even read the stored JSON again."""
    return _SPECS.get(spec_hash)


def parsed_spec(spec_hash: str, data: Mapping[str, Any]) -> PipelineSpec:
    """The spec model for a stored spec, parsed once per pipeline version, not once per event."""
    cached = _SPECS.get(spec_hash)
    if cached is None:
        cached = PipelineSpec.model_validate(data)
        if len(_SPECS) >= 256:
            _SPECS.clear()
        _SPECS[spec_hash] = cached
    return cached


_SPECS: dict[str, PipelineSpec] = {}


class MemoryLedger(MemoryStore):
    """The in-memory twin of the Django ledger: same behaviour, one process, nothing durable."""

    def __init__(self) -> None:
        self.retired: dict[tuple[str, str], str] = {}
        """What ``retired_versions`` answers: tests set it."""
        super().__init__()
        self._lock = threading.RLock()
        self._timers: list[Timer] = []
        self._outbox: dict[int, OutboxMessage] = {}
        self._ids = itertools.count(1)
        self._instances: dict[tuple[str, str, str], Instance] = {}

    def reconnect(self) -> None:
        return None  # nothing to reconnect to

    @contextmanager
    def locked_many(self, run_ids: Sequence[str]) -> Iterator[dict[str, Snapshot]]:
        with self._lock:
            yield {
                run_id: self._snapshot(run_id) for run_id in sorted(run_ids) if run_id in self._runs
            }

    def _snapshot(self, run_id: str) -> Snapshot:
        run = self._runs[run_id]
        steps = {
            step: StepState(s.status, s.attempts, s.outputs, s.first_attempt)  # type: ignore[arg-type]
            for step, s in run.steps.items()
        }
        state = RunState(run.status, steps, run.reason)  # type: ignore[arg-type]
        spec = parsed_spec(run.created.spec_hash, run.created.spec)
        recorded = frozenset(run.attempts)
        pending = [t for t in self._timers if t.run_id == run_id]
        deadlines = [t.due_at for t in pending if t.kind == "deadline"]
        return Snapshot(
            run_id,
            spec,
            run.created.inputs,
            state,
            run.started_at,
            recorded,
            min(deadlines, default=None),
            tuple(pending),
        )

    def add_timers(self, timers: Sequence[Timer]) -> None:
        self._timers.extend(replace(t, id=next(self._ids)) for t in timers)

    def delete_timers(self, ids: Sequence[int]) -> None:
        gone = set(ids)
        self._timers = [t for t in self._timers if t.id not in gone]

    def due_timers(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        return sorted((t for t in self._timers if t.due_at <= now), key=lambda t: t.due_at)[:limit]

    def add_outbox(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        stored = []
        for message in messages:
            numbered = replace(message, id=next(self._ids))
            self._outbox[numbered.id] = numbered
            stored.append(numbered)
        return stored

    def republish_stranded(
        self,
        older_than: datetime,
        publish: Callable[[Sequence[OutboxMessage]], None],
        *,
        limit: int = 100,
    ) -> int:
        with self._lock:
            stranded = [m for m in self._outbox.values() if m.created_at <= older_than][:limit]
            if stranded:
                publish(stranded)
                self.delete_outbox([m.id for m in stranded])
            return len(stranded)

    def delete_outbox(self, ids: Sequence[int]) -> None:
        for message_id in ids:
            self._outbox.pop(message_id, None)

    def unstarted_runs(self, older_than: datetime, *, limit: int = 100) -> list[str]:
        pending = self.list_runs(limit=10**9, status="pending")
        return [r.run_id for r in pending if r.created_at <= older_than][:limit]

    def record_instance(self, instance: Instance) -> None:
        self._instances[(instance.module, instance.version, instance.worker)] = instance

    def retired_versions(self) -> dict[tuple[str, str], str]:
        return dict(self.retired)

    def instances(self) -> list[Instance]:
        return list(self._instances.values())

    def prune_instances(self, older_than: datetime) -> int:
        gone = [key for key, seen in self._instances.items() if seen.seen_at < older_than]
        for key in gone:
            del self._instances[key]
        return len(gone)

    def running_attempts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for run in self._runs.values():
            for attempt in run.attempts.values():
                if attempt.status == "running":
                    key = (attempt.module, attempt.version)
                    counts[key] = counts.get(key, 0) + 1
        return counts
