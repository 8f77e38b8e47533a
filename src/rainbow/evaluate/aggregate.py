"""An evaluation's runs turned into figures: each metric's samples over the corpus.

A step's metrics are those of its last attempt (what the run's outcome rests on), keyed
``STEP.METRIC``. Rainbow adds what it measures of every run: ``STEP.duration_s`` and
``run:duration_s`` (timings, compared as samples) and ``run:failed_units`` (how many units did
not succeed: one more is a regression, whatever the other figures say, since a failed unit
reports no metric and would otherwise vanish from the means).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rainbow.engine.records import RunDetail
from rainbow.evaluate.figures import FAILED_UNITS, CorpusRef, Figures, MetricFigures, Tolerance


def figures_of(
    details: Sequence[RunDetail],
    *,
    target: str,
    corpus: CorpusRef,
    units: Sequence[str],
    made_at: datetime,
    commit: str = "",
    branch: str = "",
    repeats: int = 1,
    overrides: Sequence[str] = (),
) -> Figures:
    """The figures of ``details``: every run of every unit of ``units``, ``repeats`` times."""
    metrics: dict[str, MetricFigures] = {}
    failed: list[str] = []
    runs: dict[str, list[str]] = {}

    def figure(key: str, about: dict[str, object]) -> MetricFigures:
        if key not in metrics:
            metrics[key] = MetricFigures.model_validate(
                {"key": key, "units": [], "values": []} | about
            )
        return metrics[key]

    def skipped(key: str, **about: object) -> None:
        figure(key, about).reused += 1

    def sample(key: str, unit: str, value: float, **about: object) -> None:
        found = figure(key, about)
        found.units.append(unit)
        found.values.append(value)

    for detail in details:
        summary = detail.summary
        unit = summary.unit
        runs.setdefault(unit, []).append(summary.run_id)
        if summary.status != "succeeded":
            if unit not in failed:
                failed.append(unit)
            continue
        reused = any(a.cached_from for step in detail.steps for a in step.attempts)
        if summary.duration_s is not None and not reused:
            sample("run:duration_s", unit, summary.duration_s, **_timing("run", "duration_s"))
        elif reused:
            skipped("run:duration_s", **_timing("run", "duration_s"))
        for step in detail.steps:
            if not step.attempts:
                continue  # skipped: nothing ran, so nothing was measured
            last = step.attempts[-1]
            # A cached step ran in an earlier run: its metrics are still its own, but it took
            # no time now.
            took = _timing(step.step, "duration_s")
            if last.cached_from:
                skipped(f"{step.step}.duration_s", **took)
            elif last.duration_s is not None:
                sample(f"{step.step}.duration_s", unit, last.duration_s, **took)
            for metric in last.metrics:
                declared = (metric.tolerance_absolute, metric.tolerance_relative)
                tolerance = (
                    None
                    if declared == (None, None)
                    else Tolerance(absolute=declared[0] or 0.0, relative=declared[1] or 0.0)
                )
                key = f"{step.step}.{metric.name}"
                about: dict[str, object] = {
                    "step": step.step,
                    "name": metric.name,
                    "better": metric.better,
                    "kind": metric.kind,
                    "tolerance": tolerance,
                }
                if last.cached_from and metric.kind == "timing":
                    # Timed when the step ran, in another run: nothing was timed now.
                    skipped(key, **about)
                else:
                    sample(key, unit, metric.value, **about)
    metrics[FAILED_UNITS] = MetricFigures(
        key=FAILED_UNITS,
        step="run",
        name="failed_units",
        better="low",
        units=["*"],
        values=[float(len(failed))],
    )
    return Figures(
        target=target,
        spec_hash=details[0].summary.spec_hash if details else "",
        corpus=corpus,
        commit=commit,
        branch=branch,
        made_at=made_at,
        repeats=repeats,
        overrides=list(overrides),
        units=list(units),
        failed_units=failed,
        runs=runs,
        metrics=dict(sorted(metrics.items())),
    )


def _timing(step: str, name: str) -> dict[str, object]:
    return {"step": step, "name": name, "better": "low", "kind": "timing"}
