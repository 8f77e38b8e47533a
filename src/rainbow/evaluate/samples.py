"""A metric's samples as the report reads them: the finite ones with their units, and the
figures it draws of them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from rainbow.evaluate.figures import Kind, MetricFigures


def finite(metric: MetricFigures | None) -> list[tuple[float, str]]:
    """The finite samples of ``metric`` with their units."""
    if metric is None:
        return []
    # Figures hold a unit per sample; a hand-made one short of units still draws every sample.
    units = itertools.chain(metric.units, itertools.repeat("?"))
    pairs = zip(metric.values, units, strict=False)
    if all(map(math.isfinite, metric.values)):
        return list(pairs)
    return [(value, unit) for value, unit in pairs if math.isfinite(value)]


def judged_value(metric: MetricFigures | None, kind: Kind) -> float | None:
    """The figure ``compare`` judges a side by, or None where it counts the metric absent."""
    if metric is None or not metric.values or not all(map(math.isfinite, metric.values)):
        return None
    return quantile(sorted(metric.values), 0.5) if kind == "timing" else mean(metric.values)


def mean(values: Sequence[float]) -> float:
    try:
        return math.fsum(values) / len(values)
    except OverflowError:  # large finite samples: divided first, their sum stays finite
        return math.fsum(value / len(values) for value in values)


def quantile(ordered: Sequence[float], q: float) -> float:
    at = q * (len(ordered) - 1)
    below = math.floor(at)
    above = min(below + 1, len(ordered) - 1)
    share = at - below
    return ordered[below] * (1 - share) + ordered[above] * share
