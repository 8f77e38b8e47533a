"""Writes one folded batch of changes with a few bulk statements, inside the caller's transaction.

Whatever the batch's size, it costs one query for the ids of the step runs it touches, at most two
for the ids of attempts, and one statement per table and kind of write (see
:mod:`rainbow.control.persistence.statements` for why these are prepared statements, not
``bulk_create``).
Rare cases (a restarted or re-finished attempt, an unknown run) cost a query or two more.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from typing import Any

from rainbow.control.models import Attempt, Metric, Run, StepCache, StepRun
from rainbow.control.persistence.batch import AttemptKey, Batch, StepKey
from rainbow.control.persistence.statements import insert_each, select_in, update_each
from rainbow.engine.records import AttemptFinished, AttemptStarted
from rainbow.errors import StoreRefused

# A RunFold holds None where the batch keeps the stored value.
_KEEP_STORED_RUN_VALUE = {
    "outputs": "COALESCE(%s, {column})",
    "started_at": "COALESCE({column}, %s)",
}


class BatchWriter:
    """Writes one folded batch to the database Django knows as ``using``."""

    def __init__(self, using: str, batch: Batch) -> None:
        self._using = using
        self._batch = batch
        self._step_ids: dict[StepKey, int] = {}

    def write(self) -> None:
        self._insert_runs()
        self._update_runs()
        self._find_step_ids()
        self._update_steps()
        self._write_attempts()
        self._insert_cached()

    def _insert_cached(self) -> None:
        """Entries for the step cache; one already under a key stays (the same outputs)."""
        rows = [
            StepCache(
                key=entry.key,
                module=entry.module,
                run_id=entry.run_id,
                step=entry.step,
                attempt=entry.attempt,
                outputs=dict(entry.outputs),
                metrics=[asdict(metric) for metric in entry.metrics],
            )
            for entry in self._batch.cached
        ]
        if rows:
            StepCache.objects.using(self._using).bulk_create(rows, ignore_conflicts=True)

    def _insert_runs(self) -> None:
        runs = []
        step_runs = []
        for change in self._batch.created.values():
            fold = self._batch.run_fold(change.run_id)
            runs.append(
                {
                    "run_id": change.run_id,
                    "pipeline": change.pipeline,
                    "spec_hash": change.spec_hash,
                    "spec": change.spec,
                    "inputs": change.inputs,
                    "unit": change.unit,
                    "engine": change.engine,
                    "owner": change.owner,
                    "lease_until": change.lease_until,
                    "environment": change.environment,
                    "submitted_by": change.submitted_by,
                    "status": fold.status,
                    "reason": fold.reason,
                    "outputs": fold.outputs,
                    "created_at": change.created_at,
                    "started_at": fold.running_at,
                    "finished_at": fold.finished_at,
                }
            )
            for position, step in enumerate(change.step_ids):
                state = self._batch.steps.get((change.run_id, step))
                step_runs.append(
                    {
                        "run": change.run_id,
                        "step": step,
                        "position": position,
                        "status": state.status if state else "waiting",
                        "attempts": state.attempts if state else 0,
                        "outputs": state.outputs if state else None,
                        "first_attempt": state.first_attempt if state else 1,
                    }
                )
        insert_each(self._using, Run, runs)
        insert_each(self._using, StepRun, step_runs)

    def _update_runs(self) -> None:
        folds = {k: f for k, f in self._batch.runs.items() if k not in self._batch.created}
        rows = [
            {
                "run_id": run_id,
                "status": f.status,
                "reason": f.reason,
                "outputs": f.outputs,
                "started_at": f.running_at,
                "finished_at": f.finished_at,
            }
            for run_id, f in folds.items()
        ]
        matched = update_each(
            self._using, Run, rows, key="run_id", templates=_KEEP_STORED_RUN_VALUE
        )
        if matched < len(rows):
            held = Run.objects.using(self._using).filter(run_id__in=folds).values_list("pk")
            missing = sorted(folds.keys() - {pk for (pk,) in held})
            raise StoreRefused(f"changes are for runs the store does not hold: {missing}")

    def _find_step_ids(self) -> None:
        keys = {(run_id, step) for run_id, step, _ in self._batch.attempts}
        keys.update(key for key in self._batch.steps if key[0] not in self._batch.created)
        where_in = {"run": {run_id for run_id, _ in keys}, "step": {step for _, step in keys}}
        for run_id, step, pk in select_in(self._using, StepRun, ["run", "step", "id"], where_in):
            self._step_ids[(run_id, step)] = pk

    def _step_id(self, run_id: str, step: str) -> int:
        try:
            return self._step_ids[(run_id, step)]
        except KeyError:
            raise StoreRefused(
                f"a change is for step {step!r} of run {run_id!r}, which the store does not hold"
            ) from None

    def _update_steps(self) -> None:
        rows = [
            {
                "id": self._step_id(run_id, step),
                "status": state.status,
                "attempts": state.attempts,
                "outputs": state.outputs,
                "first_attempt": state.first_attempt,
            }
            for (run_id, step), state in self._batch.steps.items()
            if run_id not in self._batch.created
        ]
        update_each(self._using, StepRun, rows, key="id")

    def _write_attempts(self) -> None:
        attempts = self._batch.attempts
        if not attempts:
            return
        step_ids = {key: self._step_id(key[0], key[1]) for key in attempts}
        # Attempts of runs created by this batch cannot be stored yet.
        stored = self._find_attempts(
            [key for key in attempts if key[0] not in self._batch.created], step_ids
        )

        # Starting an attempt again replaces it, metrics and all, as MemoryStore does.
        restarted = [stored[key][0] for key, f in attempts.items() if f.started and key in stored]
        if restarted:
            Attempt.objects.using(self._using).filter(pk__in=restarted).delete()
        new = [
            _new_attempt(step_ids[key], f.started, f.finished, f.redelivered)
            for key, f in attempts.items()
            if f.started
        ]
        insert_each(self._using, Attempt, new)
        # Rare (a task that ran twice): a query each. An unknown attempt has no history to keep.
        for key, f in attempts.items():
            if f.redelivered and not f.started and key in stored:
                Attempt.objects.using(self._using).filter(
                    pk=stored[key][0], deliveries__lt=f.redelivered
                ).update(deliveries=f.redelivered)

        finishing = {key: f.finished for key, f in attempts.items() if f.finished and not f.started}
        never_started = sorted(":".join(map(str, key)) for key in finishing.keys() - stored.keys())
        if never_started:
            raise StoreRefused(f"attempts finish that never started: {never_started}")
        refinished = [stored[key][0] for key in finishing if stored[key][1]]
        if refinished:
            Metric.objects.using(self._using).filter(attempt__in=refinished).delete()
        rows = [
            {"id": stored[key][0], **_finish_fields(change)} for key, change in finishing.items()
        ]
        update_each(self._using, Attempt, rows, key="id")
        self._insert_metrics(step_ids, {key: stored[key][0] for key in finishing})

    def _insert_metrics(
        self, step_ids: dict[AttemptKey, int], attempt_ids: dict[AttemptKey, int]
    ) -> None:
        measured = {
            key: f.finished.metrics
            for key, f in self._batch.attempts.items()
            if f.finished and f.finished.metrics
        }
        unknown = [key for key in measured if key not in attempt_ids]
        if unknown:
            attempt_ids = {
                **attempt_ids,
                **{k: v[0] for k, v in self._find_attempts(unknown, step_ids).items()},
            }
        rows = [
            {
                "attempt": attempt_ids[key],
                "run": key[0],
                "step": key[1],
                "name": metric.name,
                "value": metric.value,
                "better": metric.better,
                "kind": metric.kind,
                "tolerance_absolute": metric.tolerance_absolute,
                "tolerance_relative": metric.tolerance_relative,
            }
            for key, metrics in measured.items()
            for metric in metrics
        ]
        insert_each(self._using, Metric, rows)

    def _find_attempts(
        self, keys: Collection[AttemptKey], step_ids: dict[AttemptKey, int]
    ) -> dict[AttemptKey, tuple[int, bool]]:
        """The id of each stored attempt among ``keys``, and whether it has finished."""
        where_in = {"step_run": {step_ids[key] for key in keys}}
        rows = select_in(
            self._using, Attempt, ["step_run", "attempt", "id", "finished_at"], where_in
        )
        found = {
            (step_id, number): (pk, finished_at is not None)
            for step_id, number, pk, finished_at in rows
        }
        return {
            key: found[(step_ids[key], key[2])] for key in keys if (step_ids[key], key[2]) in found
        }


def _finish_fields(change: AttemptFinished) -> dict[str, Any]:
    return {
        "status": change.status,
        "finished_at": change.finished_at,
        "duration_s": change.duration_s,
        "error_type": change.error_type,
        "error_message": change.error_message,
        "traceback": change.traceback,
        "exit_signal": change.exit_signal,
        "timings": dict(change.timings),
        "cached_from": change.cached_from,
    }


def _new_attempt(
    step_run_id: int, started: AttemptStarted, finished: AttemptFinished | None, redelivered: int
) -> dict[str, Any]:
    unfinished: dict[str, Any] = {
        "status": "running",
        "finished_at": None,
        "duration_s": None,
        "error_type": None,
        "error_message": None,
        "traceback": None,
        "exit_signal": None,
        "timings": {},
        "cached_from": "",
    }
    return {
        "step_run": step_run_id,
        "attempt": started.attempt,
        "module": started.module,
        "version": started.version,
        "started_at": started.started_at,
        "worker": started.worker,
        "commit": started.commit,
        "artifact": started.artifact,
        "deliveries": max(started.delivery, redelivered),
        **(_finish_fields(finished) if finished else unfinished),
    }
