"""The units that got worst: ranked by how far their value moved the bad way, and shown with
their image outputs, baseline beside now.
"""

from __future__ import annotations

import heapq
import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from rainbow.evaluate.comparison import Row
from rainbow.evaluate.figures import FAILED_UNITS, Figures
from rainbow.evaluate.images import Images, RunImages, run_images
from rainbow.evaluate.page_text import text
from rainbow.evaluate.samples import finite, mean
from rainbow.evaluate.shown import counted, num

MAX_IMAGES_PER_UNIT = 6
"""Outputs shown side by side per unit (each twice, baseline and now)."""


class Moved(NamedTuple):
    """One unit's value of a metric in the baseline and now: the mean over its repeats."""

    unit: str
    before: float
    after: float
    worse_by: float
    """How far it moved in the bad direction: positive when it got worse."""


def worst_units(baseline: Figures, now: Figures, key: str, count: int) -> list[Moved]:
    """The ``count`` units whose value of metric ``key`` got worst, worst first (ties by name):
    samples paired by unit, a unit's repeats averaged, units measured on one side left out.
    For ``run:failed_units`` a unit's value is 1 when it failed, else 0."""
    return _ranked(baseline, now, key, count)[0]


def _ranked(baseline: Figures, now: Figures, key: str, count: int) -> tuple[list[Moved], int, int]:
    """The ``count`` worst units, how many units were measured on both sides, and how many of
    them got worse."""
    metric = now.metrics.get(key) or baseline.metrics.get(key)
    if metric is None:
        return [], 0, 0
    before, after = _per_unit(baseline, key), _per_unit(now, key)
    sign = 1 if metric.better == "low" else -1
    worse_by = {unit: sign * (after[unit] - before[unit]) for unit in before.keys() & after.keys()}
    worse = [unit for unit, by in worse_by.items() if by > 0]
    worst = heapq.nsmallest(count, worse, key=lambda unit: (-worse_by[unit], unit))
    moved = [Moved(unit, before[unit], after[unit], worse_by[unit]) for unit in worst]
    return moved, len(worse_by), len(worse)


def _per_unit(figures: Figures, key: str) -> dict[str, float]:
    if key == FAILED_UNITS:
        failed = set(figures.failed_units)
        return {unit: float(unit in failed) for unit in figures.units}
    pairs = finite(figures.metrics.get(key))
    once = {unit: value for value, unit in pairs}
    if len(once) == len(pairs):
        return once  # no repeats, the common case: nothing to average
    samples: dict[str, list[float]] = {}
    for value, unit in pairs:
        samples.setdefault(unit, []).append(value)
    return {unit: mean(values) for unit, values in samples.items()}


@dataclass(frozen=True)
class WorstUnits:
    """A section's units that got worst, each with its images, baseline and now."""

    count: int
    outputs: Mapping[str, Mapping[str, Any]]
    images: Images

    def html(self, row: Row, baseline: Figures, now: Figures) -> str:
        worst, measured, worse = _ranked(baseline, now, row.key, self.count)
        failed = " (1: the unit failed)" if row.key == FAILED_UNITS else ""
        about = (
            f"Of the {measured} units measured on both sides, {worse} got worse{failed}; "
            "a unit's repeats are averaged."
            if measured
            else "No unit was measured on both sides."
        )
        parts = [
            f"<h3>The units that got worst: {len(worst)}</h3>",
            f'<p class="note">{about}</p>',
        ]
        if worst:
            parts.append('<ol class="units">')
            parts.extend(self._unit(moved, baseline, now) for moved in worst)
            parts.append("</ol>")
        return "\n".join(parts)

    def _unit(self, moved: Moved, baseline: Figures, now: Figures) -> str:
        sides = [
            run_images("baseline", baseline, moved.unit, self.outputs),
            run_images("now", now, moved.unit, self.outputs),
        ]
        runs = " · ".join(
            f"{side.side}'s run <code>{text(side.run)}</code>" for side in sides if side.run
        )
        wheres = list(dict.fromkeys(where for side in sides for where in side.found))
        pairs = [
            f'<div class="pair">{"".join(self._cell(side, where) for side in sides)}</div>'
            for where in wheres[:MAX_IMAGES_PER_UNIT]
        ]
        notes = [note for side in sides for note in side.notes]
        if len(wheres) > MAX_IMAGES_PER_UNIT:
            notes.append(f"…and {counted(len(wheres) - MAX_IMAGES_PER_UNIT, 'more image')}.")
        change = html.escape(f"{moved.after - moved.before:+.4g}")
        return "\n".join(
            [
                f"<li><h4><code>{text(moved.unit)}</code>: {num(moved.before)} → "
                f"{num(moved.after)} ({change})</h4>",
                f'<p class="note">{runs}</p>' if runs else "",
                *(f'<p class="note">{note}</p>' for note in notes),
                *pairs,
                "</li>",
            ]
        )

    def _cell(self, side: RunImages, where: str) -> str:
        caption = f"<figcaption>{side.side} · <code>{text(where)}</code></figcaption>"
        url = side.found.get(where)
        if url is None:
            missing = f"Not among the {side.side}'s images."
            return f'<figure>{caption}<p class="note">{missing}</p></figure>'
        copied = self.images.copy(url)
        if copied.src is None:
            return f'<figure>{caption}<p class="note">{copied.note}</p></figure>'
        alt = text(f"{side.side}: {where}")
        return (
            f'<figure>{caption}<a href="{copied.src}"><img src="{copied.src}" alt="{alt}" '
            'loading="lazy"></a></figure>'
        )
