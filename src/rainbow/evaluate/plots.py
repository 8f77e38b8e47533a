"""The report's plots, drawn as inline SVG: a metric's samples on both sides, and its trend
over main's builds.

Coordinates and classes are generated; names (metric keys, units, commits) appear only as the
text of ``<title>`` and ``<text>`` elements, escaped and cut. A plot draws at most ``MAX_DOTS``
samples a side over a box of all of them, so its size does not grow with the corpus.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from rainbow.evaluate.comparison import Row
from rainbow.evaluate.figures import Figures, Kind, MetricFigures
from rainbow.evaluate.page_text import text
from rainbow.evaluate.samples import finite, judged_value, mean, quantile
from rainbow.evaluate.shown import num, short

MAX_DOTS = 80
"""Samples drawn per side, evenly over their order: the box summarises all of them."""
MAX_DOT_NAME = 48
"""A dot's unit, as its tooltip names it: the dots are most of a page's size."""


@dataclass(frozen=True)
class _Scale:
    """Values onto a stretch of the page. Arithmetic on halves: the span of two finite floats
    may overflow, and an ``inf`` or ``nan`` coordinate is an error in the browser's console."""

    low: float
    high: float
    start: float
    end: float

    @classmethod
    def over(cls, values: Sequence[float], start: float, end: float) -> _Scale:
        low, high = min(values), max(values)
        pad = (high / 2 - low / 2) * 0.08 or abs(low) * 0.05 or 0.5
        low = max(low - pad, -sys.float_info.max)
        high = min(high + pad, sys.float_info.max)
        return cls(low, high, start, end)

    def __call__(self, value: float) -> float:
        share = (value / 2 - self.low / 2) / (self.high / 2 - self.low / 2)
        return self.start + share * (self.end - self.start)

    def ticks(self, count: int) -> list[float]:
        return [self.low * (1 - k / count) + self.high * (k / count) for k in range(count + 1)]


_WIDTH = 640
_LEFT = 72
_RIGHT = _WIDTH - 16


def distribution(row: Row, before: MetricFigures | None, after: MetricFigures | None) -> str:
    sides = [("baseline", "base", _samples(before)), ("now", "now", _samples(after))]
    every = [value for _, _, samples in sides for value, _ in samples]
    if not every:
        return '<p class="note">Neither side has a finite sample to draw.</p>'
    scale = _Scale.over(every, _LEFT, _RIGHT)
    parts = [f"<title>The samples of {text(row.key)}, baseline and now</title>"]
    for number, (label, css, samples) in enumerate(sides):
        y = 30 + 46 * number
        parts.append(f'<text x="8" y="{y + 4}" class="side">{label}</text>')
        if not samples:
            parts.append(f'<text x="{_LEFT}" y="{y + 4}">absent</text>')
            continue
        parts.append(_box(samples, scale, y, css, row.kind))
    axis_y = 82
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{axis_y + 12}" x2="{_RIGHT}" y2="{axis_y + 12}"/>'
    )
    for tick in scale.ticks(4):
        x = scale(tick)
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{axis_y + 12}" x2="{x:.1f}" y2="{axis_y + 16}"/>'
            f'<text x="{x:.1f}" y="{axis_y + 28}" text-anchor="middle">{num(tick)}</text>'
        )
    direction = (
        f'<text x="{_RIGHT}" y="{axis_y + 44}" text-anchor="end">higher is better →</text>'
        if row.better == "high"
        else f'<text x="{_LEFT}" y="{axis_y + 44}">← lower is better</text>'
    )
    parts.append(direction)
    return _svg(140, parts)


def _box(samples: list[tuple[float, str]], scale: _Scale, y: int, css: str, kind: Kind) -> str:
    values = [value for value, _ in samples]
    low, q1, median, q3, high = (quantile(values, q) for q in (0, 0.25, 0.5, 0.75, 1))
    judged = median if kind == "timing" else mean(values)
    x1, x3 = scale(q1), scale(q3)
    parts = [
        f'<g class="{css}">',
        f'<line class="whisker" x1="{scale(low):.1f}" y1="{y}" x2="{x1:.1f}" y2="{y}"/>',
        f'<line class="whisker" x1="{x3:.1f}" y1="{y}" x2="{scale(high):.1f}" y2="{y}"/>',
        f'<rect class="box" x="{x1:.1f}" y="{y - 12}" width="{max(x3 - x1, 1):.1f}" height="24"/>',
        f'<line class="whisker" x1="{scale(median):.1f}" y1="{y - 12}" '
        f'x2="{scale(median):.1f}" y2="{y + 12}"/>',
    ]
    for number, (value, unit) in enumerate(_spread(samples, MAX_DOTS)):
        # A fixed low-discrepancy jitter: the same figures always draw the same page.
        dy = ((number * 0.618034) % 1 - 0.5) * 18
        parts.append(
            f'<circle cx="{scale(value):.1f}" cy="{y + dy:.1f}" r="2.6">'
            f"<title>{text(unit, MAX_DOT_NAME)}: {num(value)}</title></circle>"
        )
    x = scale(judged)
    which = "median" if kind == "timing" else "mean"
    parts.append(
        f'<line class="mark" x1="{x:.1f}" y1="{y - 16}" x2="{x:.1f}" y2="{y + 16}">'
        f"<title>{which} {num(judged)} of {len(values)} samples</title></line></g>"
    )
    return "".join(parts)


def trend(row: Row, builds: list[Figures], baseline: Figures, after: MetricFigures | None) -> str:
    points = [
        _Point(
            short(build.commit) or "—",
            f"{build.made_at:%m-%d}",
            judged_value(build.metrics.get(row.key), row.kind),
            baseline=build is baseline,
        )
        for build in builds
    ]
    points.append(_Point("now", "", judged_value(after, row.kind), now=True))
    values = [point.value for point in points if point.value is not None]
    if not values:
        return '<p class="note">No build of main measured this metric.</p>'
    scale = _Scale.over(values, 112, 18)
    step = (_RIGHT - _LEFT) / (len(points) - 1)
    every = math.ceil(len(points) / 12)
    parts = [f"<title>The {text(row.key)} of main's builds, and now</title>"]
    for tick in scale.ticks(2):
        y = scale(tick)
        parts.append(
            f'<line class="axis" x1="{_LEFT}" y1="{y:.1f}" x2="{_RIGHT}" y2="{y:.1f}"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{num(tick)}</text>'
        )
    dots: list[str] = []
    # The builds since the last one without the metric: one unbroken line.
    stretch: list[tuple[float, float]] = []
    for number, point in enumerate(points):
        x = _LEFT + step * number
        if number % every == 0 or point.now or point.baseline:
            parts.append(
                f'<text x="{x:.1f}" y="134" text-anchor="middle">{text(point.commit)}</text>'
                f'<text x="{x:.1f}" y="148" text-anchor="middle">{point.day}</text>'
            )
        if point.value is None:
            parts.append(_polyline(stretch))
            stretch = []
            continue
        y = scale(point.value)
        if point.now and stretch:
            parts.append(
                f'<line class="step" x1="{stretch[-1][0]:.1f}" y1="{stretch[-1][1]:.1f}" '
                f'x2="{x:.1f}" y2="{y:.1f}"/>'
            )
        elif not point.now:
            stretch.append((x, y))
        name = "now" if point.now else f"{point.commit} ({point.day})"
        dots.append(
            f'<circle class="{"now" if point.now else "base"}" cx="{x:.1f}" cy="{y:.1f}" r="4">'
            f"<title>{text(name)}: {num(point.value)}</title></circle>"
        )
        if point.baseline:
            dots.append(
                f'<circle class="ring" cx="{x:.1f}" cy="{y:.1f}" r="8"/>'
                f'<text class="marked" x="{x:.1f}" y="{y - 12:.1f}" '
                'text-anchor="middle">baseline</text>'
            )
    parts.append(_polyline(stretch))
    judged = "median" if row.kind == "timing" else "mean"
    return _svg(160, [*parts, *dots]) + (
        f"<figcaption>The {judged} over main's last {len(builds)} builds (commit, date), the "
        "baseline ringed, and now.</figcaption>"
    )


@dataclass(frozen=True)
class _Point:
    commit: str
    day: str
    value: float | None
    baseline: bool = False
    now: bool = False


def _polyline(stretch: Sequence[tuple[float, float]]) -> str:
    if len(stretch) < 2:
        return ""
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in stretch)
    return f'<polyline class="line" points="{points}"/>'


def _svg(height: int, parts: Sequence[str]) -> str:
    return f'<svg class="plot" viewBox="0 0 {_WIDTH} {height}" role="img">{"".join(parts)}</svg>'


def _samples(metric: MetricFigures | None) -> list[tuple[float, str]]:
    """The finite samples of ``metric`` with their units, in order of value."""
    return sorted(finite(metric), key=operator.itemgetter(0))


def _spread(samples: list[tuple[float, str]], count: int) -> list[tuple[float, str]]:
    """At most ``count`` of the sorted ``samples``, evenly over them: the extremes included."""
    if len(samples) <= count:
        return samples
    last = len(samples) - 1
    return [samples[round(k * last / (count - 1))] for k in range(count)]
