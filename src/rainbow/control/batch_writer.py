"""Writes one folded batch of changes with a few bulk statements, inside the caller's transaction.

Whatever the batch's size, it costs one query to find the stored step runs it touches, one to find
its stored attempts, and one bulk statement per table and kind of write; updates of runs (few per
batch) are one statement each.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, Value
from django.db.models.functions import Coalesce

from rainbow.control.batch import AttemptKey, Batch, StepKey
from rainbow.control.models import Attempt, Metric, Run, StepRun
from rainbow.engine.records import AttemptFinished, AttemptStarted
from rainbow.errors import PlatformError


class BatchWriter:
    """Writes one folded batch inside the caller's transaction."""

    def __init__(self, using: str, batch: Batch) -> None:
        self._using = using
        self._batch = batch
        self._step_ids: dict[StepKey, int] = {}

    def write(self) -> None:
        self._insert_runs()
        self._update_runs()
        self._find_stored_steps()
        self._update_steps()
        self._write_attempts()

    def _insert_runs(self) -> None:
        created = self._batch.created.values()
        runs = []
        step_runs = []
        for change in created:
            fold = self._batch.run_fold(change.run_id)
            runs.append(
                Run(
                    run_id=change.run_id,
                    pipeline=change.pipeline,
                    spec_hash=change.spec_hash,
                    spec=change.spec,
                    inputs=change.inputs,
                    unit=change.unit,
                    engine=change.engine,
                    status=fold.status,
                    reason=fold.reason,
                    outputs=fold.outputs,
                    created_at=change.created_at,
                    started_at=fold.running_at,
                    finished_at=fold.finished_at,
                )
            )
            for position, step in enumerate(change.step_ids):
                state = self._batch.steps.get((change.run_id, step))
                step_runs.append(
                    StepRun(
                        run_id=change.run_id,
                        step=step,
                        position=position,
                        status=state.status if state else "waiting",
                        attempts=state.attempts if state else 0,
                        outputs=state.outputs if state else None,
                    )
                )
        if not runs:
            return
        Run.objects.using(self._using).bulk_create(runs)
        StepRun.objects.using(self._using).bulk_create(step_runs)
        self._step_ids.update({(s.run_id, s.step): s.pk for s in step_runs})

    def _update_runs(self) -> None:
        for run_id, fold in self._batch.runs.items():
            if run_id in self._batch.created:
                continue
            fields = {"status": fold.status, "reason": fold.reason}
            if fold.outputs is not None:
                fields["outputs"] = fold.outputs
            if fold.running_at is not None:
                fields["started_at"] = Coalesce(F("started_at"), Value(fold.running_at))
            if fold.finished_at is not None:
                fields["finished_at"] = fold.finished_at
            if not Run.objects.using(self._using).filter(run_id=run_id).update(**fields):
                raise PlatformError(f"a change is for run {run_id!r}, which the store does not hold")

    def _find_stored_steps(self) -> None:
        run_ids = self._batch.stored_run_ids()
        if run_ids:
            stored = StepRun.objects.using(self._using).filter(run__in=run_ids)
            for run_id, step, pk in stored.values_list("run_id", "step", "id"):
                self._step_ids[(run_id, step)] = pk

    def _step_id(self, run_id: str, step: str) -> int:
        try:
            return self._step_ids[(run_id, step)]
        except KeyError:
            raise PlatformError(
                f"a change is for step {step!r} of run {run_id!r}, which the store does not hold"
            ) from None

    def _update_steps(self) -> None:
        stored = [
            StepRun(
                id=self._step_id(key[0], key[1]),
                status=state.status,
                attempts=state.attempts,
                outputs=state.outputs,
            )
            for key, state in self._batch.steps.items()
            if key[0] not in self._batch.created
        ]
        StepRun.objects.using(self._using).bulk_update(stored, ["status", "attempts", "outputs"])

    def _write_attempts(self) -> None:
        attempts = self._batch.attempts
        if not attempts:
            return
        step_ids = {key: self._step_id(key[0], key[1]) for key in attempts}
        stored = self._stored_attempts(step_ids)
        # Starting an attempt again replaces it, metrics and all, as MemoryStore does.
        restarted = [stored[key][0] for key, f in attempts.items() if f.started and key in stored]
        if restarted:
            Attempt.objects.using(self._using).filter(pk__in=restarted).delete()
        new = {
            key: _new_attempt(step_ids[key], f.started, f.finished)
            for key, f in attempts.items()
            if f.started
        }
        Attempt.objects.using(self._using).bulk_create(new.values())
        attempt_ids = {key: attempt.pk for key, attempt in new.items()}

        finishing = {key: f.finished for key, f in attempts.items() if f.finished and not f.started}
        for key in finishing.keys() - stored.keys():
            raise PlatformError(f"attempt {':'.join(map(str, key))} finishes but never started")
        refinished = [stored[key][0] for key in finishing if stored[key][1]]
        if refinished:
            Metric.objects.using(self._using).filter(attempt__in=refinished).delete()
        finished_rows = [
            Attempt(id=stored[key][0], **_finish_fields(change)) for key, change in finishing.items()
        ]
        Attempt.objects.using(self._using).bulk_update(finished_rows, _FINISH_FIELDS)
        attempt_ids.update({key: stored[key][0] for key in finishing})

        metrics = [
            Metric(
                attempt_id=attempt_ids[key],
                run_id=key[0],
                step=key[1],
                name=metric.name,
                value=metric.value,
                better=metric.better,
            )
            for key, f in attempts.items()
            if f.finished
            for metric in f.finished.metrics
        ]
        Metric.objects.using(self._using).bulk_create(metrics)

    def _stored_attempts(self, step_ids: dict[AttemptKey, int]) -> dict[AttemptKey, tuple[int, bool]]:
        """The id of each stored attempt of the batch, and whether it has finished."""
        stored_step_ids = {
            step_id for key, step_id in step_ids.items() if key[0] not in self._batch.created
        }
        if not stored_step_ids:
            return {}
        rows = Attempt.objects.using(self._using).filter(step_run__in=stored_step_ids)
        found = {
            (step_id, number): (pk, finished_at is not None)
            for step_id, number, pk, finished_at in rows.values_list(
                "step_run_id", "attempt", "id", "finished_at"
            )
        }
        return {
            key: found[(step_id, key[2])]
            for key, step_id in step_ids.items()
            if (step_id, key[2]) in found
        }


_FINISH_FIELDS = [
    "status",
    "finished_at",
    "duration_s",
    "error_type",
    "error_message",
    "traceback",
    "exit_signal",
    "timings",
]


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
    }


def _new_attempt(
    step_run_id: int, started: AttemptStarted, finished: AttemptFinished | None
) -> Attempt:
    fields: dict[str, Any] = {
        "step_run_id": step_run_id,
        "attempt": started.attempt,
        "status": "running",
        "module": started.module,
        "version": started.version,
        "started_at": started.started_at,
    }
    if finished is not None:
        fields.update(_finish_fields(finished))
    return Attempt(**fields)
