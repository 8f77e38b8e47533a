"""Read queries the API and the admin both answer from, so the two never disagree about which
workers are live, where a pipeline is the default, or how its metrics went."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from rainbow.control.models import DefaultPointer, Instance, Metric, Pipeline, Run
from rainbow.engine.waiting import LIVE_WITHIN

TREND_RUNS = 50
"""How many of a pipeline's last succeeded runs its metric trends show."""


@dataclass(frozen=True)
class InstanceSeen:
    """A worker that announced a module version, and whether it still does."""

    worker: str
    commit: str
    seen_at: datetime
    live: bool


def instances_by_version(
    module: str | None = None, version: str | None = None
) -> dict[tuple[str, str], list[InstanceSeen]]:
    """The workers of each (module, version), last seen first: of every version, or of one."""
    rows = Instance.objects.order_by("-seen_at")
    if module is not None:
        rows = rows.filter(module=module, version=version)
    live_after = timezone.now() - LIVE_WITHIN
    found: dict[tuple[str, str], list[InstanceSeen]] = {}
    for row in rows:
        seen = InstanceSeen(row.worker, row.commit, row.seen_at, row.seen_at >= live_after)
        found.setdefault((row.module, row.version), []).append(seen)
    return found


def default_pointers(
    pipelines: Iterable[Pipeline] | QuerySet[Pipeline],
) -> QuerySet[DefaultPointer]:
    """Where each of ``pipelines`` is the default, with the version's name but not its spec (a
    spec may be megabytes)."""
    return (
        DefaultPointer.objects.filter(pipeline__in=pipelines)
        .select_related("version__pipeline")
        .only(
            "pipeline_id",
            "environment",
            "version__spec_hash",
            "version__pipeline__name",
        )
    )


def metric_trends(pipeline: str, last: int = TREND_RUNS) -> dict[str, list[tuple[str, float]]]:
    """Each ``step/metric`` of the pipeline's last succeeded runs, oldest run first, as
    (run_id, value) points."""
    runs = list(
        Run.objects.filter(pipeline=pipeline, status="succeeded")
        .order_by("-created_at")
        .values_list("run_id", flat=True)[:last]
    )
    order = {run_id: index for index, run_id in enumerate(reversed(runs))}
    series: dict[str, list[tuple[int, str, float]]] = {}
    for run_id, step, name, value in Metric.objects.filter(run_id__in=runs).values_list(
        "run_id", "step", "name", "value"
    ):
        series.setdefault(f"{step}/{name}", []).append((order[run_id], run_id, value))
    return {
        name: [(run_id, value) for _, run_id, value in sorted(values)]
        for name, values in sorted(series.items())
    }
