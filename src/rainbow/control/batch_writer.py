"""Writes one folded batch of changes with a few bulk statements, inside the caller's transaction.

Whatever the batch's size, it costs at most one query to find the stored step runs it touches, one
to find its stored attempts, and one statement per table and kind of write. Updates run as one
prepared ``UPDATE`` executed per row (``executemany``): Django's ``bulk_update`` builds a CASE
expression per field and row, which costs milliseconds per batch instead of microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import connections
from django.db.models import Model

from rainbow.control.batch import AttemptKey, Batch, StepKey
from rainbow.control.models import Attempt, Metric, Run, StepRun
from rainbow.engine.records import AttemptFinished, AttemptStarted
from rainbow.errors import PlatformError

class BatchWriter:
    """Writes one folded batch to the database Django knows as ``using``."""

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
        runs = []
        step_runs = []
        for change in self._batch.created.values():
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
        stored = {k: f for k, f in self._batch.runs.items() if k not in self._batch.created}
        rows = [
            {
                "run_id": run_id,
                "status": f.status,
                "reason": f.reason,
                "outputs": f.outputs,
                "started_at": f.running_at,
                "finished_at": f.finished_at,
            }
            for run_id, f in stored.items()
        ]
        # A fold holds None where the batch keeps the stored value (see RunFold).
        keep_stored = {
            "outputs": "COALESCE(%s, {column})",
            "started_at": "COALESCE({column}, %s)",
            "finished_at": "COALESCE(%s, {column})",
        }
        if _update_each(self._using, Run, rows, key="run_id", templates=keep_stored) < len(rows):
            held = set(Run.objects.using(self._using).filter(run_id__in=stored).values_list("pk"))
            missing = sorted(stored.keys() - {pk for (pk,) in held})
            raise PlatformError(f"changes are for runs the store does not hold: {missing}")

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
        rows = [
            {
                "id": self._step_id(run_id, step),
                "status": state.status,
                "attempts": state.attempts,
                "outputs": state.outputs,
            }
            for (run_id, step), state in self._batch.steps.items()
            if run_id not in self._batch.created
        ]
        _update_each(self._using, StepRun, rows, key="id")

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
        rows = [{"id": stored[key][0], **_finish_fields(change)} for key, change in finishing.items()]
        _update_each(self._using, Attempt, rows, key="id")
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
        """The id of each attempt of the batch already stored, and whether it has finished."""
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


def _update_each(
    using: str,
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    templates: Mapping[str, str] | None = None,
) -> int:
    """Update one row per mapping in ``rows`` with one prepared statement; return rows matched.

    Each mapping holds the same fields: ``key`` picks the row, the others are set. ``templates``
    gives the SQL of a field's new value where it is not plain ``%s`` (the mapping's value);
    ``{column}`` in a template stands for the stored value.
    """
    if not rows:
        return 0
    connection = connections[using]
    quote = connection.ops.quote_name
    names = [name for name in rows[0] if name != key]
    fields = [model._meta.get_field(name) for name in (*names, key)]
    set_sql = ", ".join(
        f"{quote(field.column)} = "
        + (templates or {}).get(field.name, "%s").format(column=quote(field.column))
        for field in fields[:-1]
    )
    sql = f"UPDATE {quote(model._meta.db_table)} SET {set_sql} WHERE {quote(fields[-1].column)} = %s"
    params = [[field.get_db_prep_save(row[field.name], connection) for field in fields] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
        return cursor.rowcount
