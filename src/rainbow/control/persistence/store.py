"""The engine's store on the Django ORM: the durable twin of ``MemoryStore``.

Import this module only after :func:`rainbow.control.django_setup.configure`;
:func:`rainbow.control.django_setup.open_store` does both.

Each ``write`` is one transaction: the batch is folded (:mod:`rainbow.control.persistence.batch`)
and written with a few bulk statements (:mod:`rainbow.control.persistence.batch_writer`). Reads
cost a constant number of queries: four for ``get_run``, two for a page of ``list_runs``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from typing import Literal

from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.db.models import F, Q

from rainbow.control.models import Attempt, Metric, Run, StepCache, StepRun
from rainbow.control.persistence.batch import fold
from rainbow.control.persistence.batch_writer import BatchWriter
from rainbow.engine.records import (
    AttemptView,
    CachedStep,
    Change,
    MetricValue,
    RunDetail,
    RunSummary,
    StepView,
)
from rainbow.engine.store import UNFINISHED
from rainbow.errors import PlatformError, StoreRefused

# A run list shows summaries: leave the (possibly large) JSON columns in the database.
_SUMMARY_FIELDS = [f.name for f in Run._meta.fields if f.name not in ("spec", "inputs", "outputs")]
# An attempt's view is its row's columns of the same names, and its metrics.
_ATTEMPT_COLUMNS = [field.name for field in fields(AttemptView) if field.name != "metrics"]


@contextmanager
def store_errors(
    refused: str = "the run store refused it",
    away: str = "the run store failed",
    *,
    values_too: bool = False,
) -> Iterator[None]:
    """Tell a database that is up and refuses what it was given (StoreRefused: the same call
    would fail forever) from one that is away (PlatformError: worth waiting for)."""
    content = (DataError, IntegrityError, ValueError) if values_too else (DataError, IntegrityError)
    try:
        yield
    except content as exc:
        raise StoreRefused(f"{refused}: {exc}") from exc
    except DatabaseError as exc:
        raise PlatformError(f"{away}: {exc}") from exc


class DjangoStore:
    """Runs, steps and attempts in the database Django knows as ``using``.

    ``write`` records nothing of the batch and raises StoreRefused when a change refers to a run,
    step or attempt the store does not hold, creates a run that already exists, or holds a value
    the database refuses; PlatformError when the database fails.
    """

    def __init__(self, *, using: str = "default") -> None:
        self._using = using

    def write(self, changes: Sequence[Change]) -> None:
        if not changes:
            return
        batch = fold(changes)
        what = f"could not record {len(changes)} changes"
        # psycopg refuses a NUL in text before sending it, with a ValueError.
        with store_errors(what, what, values_too=True), transaction.atomic(using=self._using):
            BatchWriter(self._using, batch).write()

    def get_run(self, run_id: str) -> RunDetail | None:
        run = Run.objects.using(self._using).filter(run_id=run_id).first()
        if run is None:
            return None
        step_runs = StepRun.objects.using(self._using).filter(run=run).order_by("position")
        attempts = Attempt.objects.using(self._using).filter(step_run__run=run).order_by("attempt")
        metrics = Metric.objects.using(self._using).filter(run=run).order_by("id")

        metrics_of_attempt: dict[int, list[MetricValue]] = defaultdict(list)
        for metric in metrics:
            metrics_of_attempt[metric.attempt_id].append(_metric_value(metric))
        attempts_of_step: dict[int, list[AttemptView]] = defaultdict(list)
        for attempt in attempts:
            view = _attempt_view(attempt, metrics_of_attempt[attempt.pk])
            attempts_of_step[attempt.step_run_id].append(view)

        steps = []
        last_metrics: list[MetricValue] = []
        for step_run in step_runs:
            views = attempts_of_step[step_run.pk]
            steps.append(StepView(step_run.step, step_run.status, views, step_run.outputs))
            for view in views:
                if view.attempt == step_run.attempts:
                    last_metrics.extend(view.metrics)
        return RunDetail(
            summary=_run_summary(run, last_metrics),
            inputs=run.inputs,
            outputs=run.outputs,
            spec=run.spec,
            steps=steps,
        )

    def run_statuses(self, run_ids: Sequence[str]) -> dict[str, str]:
        rows = Run.objects.using(self._using).filter(run_id__in=list(run_ids))
        return dict(rows.values_list("run_id", "status"))

    def cached_steps(self, keys: Sequence[str]) -> dict[str, CachedStep]:
        rows = StepCache.objects.using(self._using).filter(key__in=list(keys))
        with store_errors(away="could not read the step cache"):
            return {
                row.key: CachedStep(
                    row.run_id,
                    row.step,
                    row.outputs,
                    tuple(MetricValue(**metric) for metric in row.metrics),
                )
                for row in rows
            }

    def renew_leases(self, owner: str, until: datetime) -> set[str]:
        held = Run.objects.using(self._using).filter(owner=owner, status__in=UNFINISHED)
        with store_errors(away=f"could not renew the lease of {owner}'s runs"):
            held.update(lease_until=until)
            return set(held.values_list("run_id", flat=True))

    def take_over(self, run_id: str, owner: str, by: str, now: datetime) -> bool:
        still_abandoned = Q(lease_until__lt=now) | Q(lease_until__isnull=True)
        rows = Run.objects.using(self._using).filter(
            still_abandoned, run_id=run_id, owner=owner, status__in=UNFINISHED
        )
        return bool(rows.update(owner=by))

    def abandoned_runs(self, now: datetime) -> list[RunSummary]:
        runs = (
            Run.objects.using(self._using)
            .only(*_SUMMARY_FIELDS)
            .filter(engine="local", status__in=UNFINISHED)
            .exclude(owner="")
            .filter(Q(lease_until__lt=now) | Q(lease_until__isnull=True))
        )
        return [_run_summary(run, ()) for run in runs]

    def list_runs(self, *, limit: int = 50, status: str | None = None) -> list[RunSummary]:
        runs = Run.objects.using(self._using).only(*_SUMMARY_FIELDS)
        if status is not None:
            runs = runs.filter(status=status)
        page = list(runs.order_by("-created_at", "-run_id")[:limit])
        metrics_of_run = last_metrics(self._using, [run.run_id for run in page])
        return [_run_summary(run, metrics_of_run[run.run_id]) for run in page]


def last_metrics(using: str, run_ids: Sequence[str]) -> dict[str, list[MetricValue]]:
    """The metrics of each step's last attempt, in spec order: for a whole page in one query."""
    rows = (
        Metric.objects.using(using)
        .filter(run__in=run_ids, attempt__attempt=F("attempt__step_run__attempts"))
        .order_by("attempt__step_run__position", "id")
    )
    found: dict[str, list[MetricValue]] = defaultdict(list)
    for metric in rows:
        found[metric.run_id].append(_metric_value(metric))
    return found


def _run_summary(run: Run, metrics: Sequence[MetricValue]) -> RunSummary:
    return RunSummary(
        run_id=run.run_id,
        pipeline=run.pipeline,
        spec_hash=run.spec_hash,
        unit=run.unit,
        engine=run.engine,
        status=run.status,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        reason=run.reason,
        metrics=tuple(metrics),
        owner=run.owner,
        lease_until=run.lease_until,
    )


def _attempt_view(attempt: Attempt, metrics: Sequence[MetricValue]) -> AttemptView:
    columns = {name: getattr(attempt, name) for name in _ATTEMPT_COLUMNS}
    return AttemptView(**columns, metrics=tuple(metrics))


def _metric_value(metric: Metric) -> MetricValue:
    better: Literal["high", "low"] = "high" if metric.better == Metric.Better.HIGH else "low"
    kind: Literal["quality", "timing"] = (
        "timing" if metric.kind == Metric.Kind.TIMING else "quality"
    )
    return MetricValue(
        name=metric.name,
        value=metric.value,
        better=better,
        step=metric.step,
        kind=kind,
        tolerance_absolute=metric.tolerance_absolute,
        tolerance_relative=metric.tolerance_relative,
    )
