"""The store protocol the engine persists through, and its in-memory twin for pure tests.

``control`` implements the same protocol with the Django ORM (SQLite or PostgreSQL); the contract
tests in ``tests/engine/test_store_contract.py`` run against both.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from rainbow.engine.records import (
    AttemptFinished,
    AttemptRedelivered,
    AttemptStarted,
    AttemptView,
    CachedStep,
    Change,
    MetricValue,
    RunChanged,
    RunCreated,
    RunDetail,
    RunSummary,
    StepCached,
    StepChanged,
    StepView,
)
from rainbow.errors import StoreRefused

UNFINISHED = ("pending", "running")
"""Run statuses whose owner still has work to do."""


class Store(Protocol):
    """Durable record of runs, steps and attempts."""

    def write(self, changes: Sequence[Change]) -> None:
        """Apply the changes atomically, in order: all are durable when this returns.

        Raises :class:`~rainbow.errors.StoreRefused`, applying none of them, when a change
        refers to a run, step or attempt the store does not have, creates a run twice, or holds
        a value the store cannot keep; :class:`~rainbow.errors.PlatformError` when the store
        itself fails (unreachable, disk full).
        """

    def get_run(self, run_id: str) -> RunDetail | None:
        """One run with its steps and attempts, or None when no run has that id."""

    def list_runs(self, *, limit: int = 50, status: str | None = None) -> list[RunSummary]:
        """The newest runs first."""

    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        """The status of each of these runs that exists, in one cheap read (for pollers)."""

    def cached_steps(self, keys: Sequence[str]) -> dict[str, CachedStep]:
        """What the step cache holds under each of these keys that it has, in one read."""

    def renew_leases(self, owner: str, until: datetime) -> set[str]:
        """Extend to ``until`` the lease of every unfinished run ``owner`` holds; return their
        ids (a run another process closed as abandoned is no longer among them)."""

    def abandoned_runs(self, now: datetime) -> list[RunSummary]:
        """Unfinished local runs with an owner whose lease ran out before ``now``."""

    def take_over(self, run_id: str, owner: str, by: str, now: datetime) -> bool:
        """Make ``by`` the owner of an abandoned run still held by ``owner``, atomically: only
        one process closes it, and the old owner, should it wake, no longer holds it."""


class _Inconsistent(Exception):
    pass


@dataclass
class _MemoryRun:
    created: RunCreated
    status: str = "pending"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    outputs: Mapping[str, Any] | None = None
    steps: dict[str, StepChanged] = field(default_factory=dict)
    attempts: dict[tuple[str, int], AttemptView] = field(default_factory=dict)
    lease_until: datetime | None = None
    owner: str = ""


class MemoryStore:
    """A store held in a dict: same behaviour as the Django store, nothing durable."""

    def __init__(self) -> None:
        self._runs: dict[str, _MemoryRun] = {}
        self._cache: dict[str, CachedStep] = {}

    def write(self, changes: Sequence[Change]) -> None:
        before = copy.deepcopy(self._runs), dict(self._cache)
        try:
            for change in changes:
                self._apply(change)
        except _Inconsistent as exc:
            self._runs, self._cache = before
            raise StoreRefused(f"store write refused, nothing recorded: {exc}") from None

    def cached_steps(self, keys: Sequence[str]) -> dict[str, CachedStep]:
        return {key: self._cache[key] for key in keys if key in self._cache}

    def _apply(self, change: Change) -> None:
        if isinstance(change, StepCached):
            # The first entry stays: later ones under the key are the same outputs, re-made.
            self._cache.setdefault(
                change.key,
                CachedStep(change.run_id, change.step, change.outputs, tuple(change.metrics)),
            )
            return
        if isinstance(change, RunCreated):
            if change.run_id in self._runs:
                raise _Inconsistent(f"run {change.run_id} created twice")
            created = _MemoryRun(created=change, lease_until=change.lease_until, owner=change.owner)
            for step in change.step_ids:
                created.steps[step] = StepChanged(change.run_id, step, "waiting", 0)
            self._runs[change.run_id] = created
            return
        run = self._runs.get(change.run_id)
        if run is None:
            raise _Inconsistent(f"no run {change.run_id}")
        if not isinstance(change, RunChanged) and change.step not in run.steps:
            raise _Inconsistent(f"run {change.run_id} has no step {change.step}")
        if isinstance(change, RunChanged):
            run.status = change.status
            if change.status == "running" and run.started_at is None:
                run.started_at = change.at
            unfinished = change.status in ("pending", "running")
            run.finished_at = None if unfinished else change.at
            run.reason = change.reason
            if change.outputs is not None:
                run.outputs = change.outputs
        elif isinstance(change, StepChanged):
            run.steps[change.step] = change
        elif isinstance(change, AttemptStarted):
            run.attempts[(change.step, change.attempt)] = AttemptView(
                attempt=change.attempt,
                status="running",
                module=change.module,
                version=change.version,
                started_at=change.started_at,
                finished_at=None,
                duration_s=None,
                error_type=None,
                error_message=None,
                traceback=None,
                exit_signal=None,
                metrics=(),
                timings={},
                worker=change.worker,
                deliveries=change.delivery,
                commit=change.commit,
                artifact=change.artifact,
            )
        elif isinstance(change, AttemptRedelivered):
            key = (change.step, change.attempt)
            if key in run.attempts:  # an unknown attempt has no history to keep
                view = run.attempts[key]
                run.attempts[key] = replace(view, deliveries=max(view.deliveries, change.delivery))
        else:
            self._finish_attempt(run, change)

    @staticmethod
    def _finish_attempt(run: _MemoryRun, change: AttemptFinished) -> None:
        started = run.attempts.get((change.step, change.attempt))
        if started is None:
            raise _Inconsistent(
                f"attempt {change.step}:{change.attempt} finished but never started"
            )
        run.attempts[(change.step, change.attempt)] = replace(
            started,
            status=change.status,
            finished_at=change.finished_at,
            duration_s=change.duration_s,
            error_type=change.error_type,
            error_message=change.error_message,
            traceback=change.traceback,
            exit_signal=change.exit_signal,
            metrics=tuple(replace(m, step=change.step) for m in change.metrics),
            timings=dict(change.timings),
            cached_from=change.cached_from,
        )

    def _summary(self, run: _MemoryRun) -> RunSummary:
        metrics: list[MetricValue] = []
        for step in run.created.step_ids:
            state = run.steps[step]
            last = run.attempts.get((step, state.attempts))
            if last is not None:
                metrics.extend(last.metrics)
        return RunSummary(
            run_id=run.created.run_id,
            pipeline=run.created.pipeline,
            spec_hash=run.created.spec_hash,
            unit=run.created.unit,
            engine=run.created.engine,
            status=run.status,
            created_at=run.created.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            reason=run.reason,
            metrics=tuple(metrics),
            owner=run.owner,
            lease_until=run.lease_until,
        )

    def get_run(self, run_id: str) -> RunDetail | None:
        run = self._runs.get(run_id)
        if run is None:
            return None
        steps = [
            StepView(
                step=step,
                status=run.steps[step].status,
                attempts=[a for (s, _), a in sorted(run.attempts.items()) if s == step],
                outputs=run.steps[step].outputs,
            )
            for step in run.created.step_ids
        ]
        return RunDetail(
            summary=self._summary(run),
            inputs=run.created.inputs,
            outputs=run.outputs,
            spec=run.created.spec,
            steps=steps,
        )

    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        return {r: self._runs[r].status for r in run_ids if r in self._runs}

    def renew_leases(self, owner: str, until: datetime) -> set[str]:
        held = [r for r in self._runs.values() if r.owner == owner and r.status in UNFINISHED]
        for run in held:
            run.lease_until = until
        return {r.created.run_id for r in held}

    def abandoned_runs(self, now: datetime) -> list[RunSummary]:
        return [
            self._summary(r)
            for r in self._runs.values()
            if r.created.engine == "local"
            and r.owner
            and r.status in UNFINISHED
            and (r.lease_until is None or r.lease_until < now)
        ]

    def take_over(self, run_id: str, owner: str, by: str, now: datetime) -> bool:
        run = self._runs.get(run_id)
        lease = run.lease_until if run else None
        if run is None or run.owner != owner or run.status not in UNFINISHED:
            return False
        if lease is not None and lease >= now:
            return False
        run.owner = by
        return True

    def list_runs(self, *, limit: int = 50, status: str | None = None) -> list[RunSummary]:
        runs = [r for r in self._runs.values() if status is None or r.status == status]
        runs.sort(key=lambda r: (r.created.created_at, r.created.run_id), reverse=True)
        return [self._summary(r) for r in runs[:limit]]
