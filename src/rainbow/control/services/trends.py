"""A target's metric trend over main's baselines, and the builds where a metric's level moved.

Each baseline is one build of main; a metric's trend is its judged value per build (the mean, the
median for timings: what ``compare`` judges) oldest first. Where the level moved is found as
Hunter (Apache Otava) finds it, in two steps, on the builds that measured the metric:

1. Split: binary segmentation of the series into pieces of constant level. A piece is cut where
   the cut explains the most of its squared deviations, while that gain exceeds ``3 ln n`` times
   the noise's variance (the leading term of Zhang and Siegmund's modified BIC, which R's
   changepoint package uses by default; with the plain BIC's ``2 ln n``, four times as many
   series of noise kept a spurious cut). The noise is estimated from the median step between
   neighbouring builds, which a few moves of the level barely shift; a deterministic quality
   metric has none, so every move it makes is a candidate. Unlike a t-test within the piece, the
   penalty is not fooled by a level that moved and came back, whose spread would hide both moves.
2. Merge (Hunter's, bottom-up): each candidate is tested against its neighbours, the builds since
   the change point before it against those up to the one after. Welch's t-test must give
   p < 0.001 and the level must move by at least 5 % of the one before it; while some candidate
   fails, the weakest (the highest p, else the smallest move) is dropped and its neighbours are
   tested again over the wider pieces.

A level is at least two builds: a single build off the line may be an outlier, and the next build
tells. ``compare`` already judges each build against the baseline as it lands. The p-values are
nominal, as Hunter's are: the cuts were chosen where the data differ most, so it is the strict
threshold with the 5 % floor that keeps noise from reading as moves.

The arithmetic is pure Python (Rainbow's core does not depend on numpy); only
:func:`main_trend` reads the store.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rainbow.evaluate.figures import Better, Kind
from rainbow.evaluate.samples import mean, quantile
from rainbow.evaluate.shown import clean, short

MAX_P = 0.001
MIN_MAGNITUDE = 0.05
MIN_LEVEL = 2
"""The fewest builds a level is made of."""
PENALTY = 3
"""A cut must explain ``PENALTY · ln n`` times the noise's variance."""
NOISE_FLOOR = 1e-9
"""The least noise assumed, relative to the series' typical size, as ``compare`` allows float
noise from other BLAS or OpenCV builds: a series the same to the last bit still cuts where any
move shows, and the merge weighs each move."""
_MAD_TO_SIGMA = math.sqrt(2) * statistics.NormalDist().inv_cdf(0.75)
"""The median |step| between neighbours of normal noise of sigma 1 (a step's sigma is √2)."""
READ_CHUNK = 10
"""Baselines read from the store at a time: figures hold every sample, and may be megabytes."""


@dataclass(frozen=True)
class Shift:
    """Where a series' level moved: ``index`` is the first point at the new level."""

    index: int
    before: float
    after: float
    p_value: float

    @property
    def relative(self) -> float:
        """The move as a share of the level before (±inf from a level of 0)."""
        if self.before == 0:
            return math.copysign(math.inf, self.after) if self.after else 0.0
        return (self.after - self.before) / abs(self.before)


def shifts(
    values: Sequence[float], *, max_p: float = MAX_P, min_magnitude: float = MIN_MAGNITUDE
) -> list[Shift]:
    """The points where the level of ``values`` (finite, oldest first) moved, in order."""
    if not all(map(math.isfinite, values)):
        raise ValueError("the series must be finite")
    if len(values) < 2 * MIN_LEVEL:
        return []
    # Scaled into [-1, 1]: neither the cuts, the t statistic nor the relative moves change, and
    # no square or difference of the largest finite floats overflows.
    scale = max(map(abs, values)) or 1.0
    series = [value / scale for value in values]
    return [
        Shift(index, before * scale, after * scale, p)
        for index, before, after, p in _merge(series, _split(series), max_p, min_magnitude)
    ]


def _split(series: list[float]) -> list[int]:
    """The candidate change points: binary segmentation under a penalty per cut."""
    steps = [abs(b - a) for a, b in itertools.pairwise(series)]
    noise = max(statistics.median(steps) / _MAD_TO_SIGMA, NOISE_FLOOR * _typical(series))
    penalty = PENALTY * math.log(len(series)) * noise * noise
    found, pieces = [], [(0, len(series))]
    while pieces:
        start, end = pieces.pop()
        cut, gain = _best_cut(series, start, end)
        if cut is not None and gain > penalty:
            found.append(cut)
            pieces += [(start, cut), (cut, end)]
    return sorted(found)


def _typical(series: Sequence[float]) -> float:
    return statistics.median(map(abs, series))


def _best_cut(series: Sequence[float], start: int, end: int) -> tuple[int | None, float]:
    """Where cutting ``series[start:end]`` in two removes the most squared deviation, and how
    much it removes (each side at least ``MIN_LEVEL`` long)."""
    count = end - start
    if count < 2 * MIN_LEVEL:
        return None, 0.0
    centre = mean(series[start:end])
    total = math.fsum(value - centre for value in series[start:end])
    best, gain, left_sum = None, 0.0, 0.0
    for cut in range(start + 1, end - MIN_LEVEL + 1):
        left_sum += series[cut - 1] - centre
        left = cut - start
        if left < MIN_LEVEL:
            continue
        right = count - left
        right_sum = total - left_sum
        explained = left_sum * left_sum / left + right_sum * right_sum / right
        explained -= total * total / count
        if explained > gain:
            best, gain = cut, explained
    return best, gain


def _merge(
    series: Sequence[float], cuts: list[int], max_p: float, min_magnitude: float
) -> list[tuple[int, float, float, float]]:
    """Hunter's merge: drop the weakest cut until every one kept has p < ``max_p`` and a move of
    at least ``min_magnitude``, each tested on the pieces between its neighbouring cuts."""

    def judged(at: int) -> tuple[int, float, float, float]:
        before = cuts[at - 1] if at > 0 else 0
        after = cuts[at + 1] if at + 1 < len(cuts) else len(series)
        left, right = series[before : cuts[at]], series[cuts[at] : after]
        return cuts[at], statistics.mean(left), statistics.mean(right), welch_p(left, right)

    tests = [judged(at) for at in range(len(cuts))]
    while tests:
        weakest = max(range(len(tests)), key=lambda at: tests[at][3])
        if tests[weakest][3] < max_p:
            weakest = min(range(len(tests)), key=lambda at: _magnitude(*tests[at][1:3]))
            if _magnitude(*tests[weakest][1:3]) >= min_magnitude:
                break
        del cuts[weakest], tests[weakest]
        for neighbour in (weakest - 1, weakest):
            if 0 <= neighbour < len(tests):
                tests[neighbour] = judged(neighbour)
    return tests


def _magnitude(before: float, after: float) -> float:
    if before == 0:
        return math.inf if after else 0.0
    return abs(after - before) / abs(before)


def welch_p(left: Sequence[float], right: Sequence[float]) -> float:
    """The two-sided p-value of Welch's t-test that ``left`` and ``right`` (two or more values
    each) have one mean, as ``scipy.stats.ttest_ind(left, right, equal_var=False)`` gives it.

    Two constant sides are certainly apart when their values differ (p 0), and certainly not
    when they are the same (p 1): deterministic metrics make such series.
    """
    if len(left) < 2 or len(right) < 2:
        raise ValueError("each side needs at least two values")
    # Scaled into [-1, 1], which leaves t as it is: tiny values' variances would underflow.
    scale = max(map(abs, [*left, *right])) or 1.0
    left, right = [value / scale for value in left], [value / scale for value in right]
    # Exact sums (the statistics module's): a constant side's mean is its value, its variance 0.
    left_mean, right_mean = statistics.mean(left), statistics.mean(right)
    spread_left = statistics.variance(left) / len(left)
    spread_right = statistics.variance(right) / len(right)
    spread = spread_left + spread_right
    if spread == 0:
        return 0.0 if left_mean != right_mean else 1.0
    t = (right_mean - left_mean) / math.sqrt(spread)
    # Welch-Satterthwaite, on shares of the spread: the squares of tiny variances underflow.
    share_left, share_right = spread_left / spread, spread_right / spread
    freedom = 1 / (share_left**2 / (len(left) - 1) + share_right**2 / (len(right) - 1))
    # P(|T| > |t|) for Student's t with ``freedom`` degrees: I_x(freedom / 2, 1 / 2).
    return _incomplete_beta(freedom / 2, 0.5, freedom / (freedom + t * t))


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The fraction converges fast below the mean of the distribution; above, by symmetry.
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function, by the modified Lentz method."""
    tiny = 1e-300

    def bounded(value: float) -> float:
        return value if abs(value) >= tiny else tiny

    c, d = 1.0, 1 / bounded(1 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 1000):
        for term in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 / bounded(1 + term * d)
            c = bounded(1 + term / c)
            fraction *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return fraction


# A target's trend ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    """One baseline of main: the build it measured, and who recorded it."""

    baseline_id: int
    commit: str
    made_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class Summary:
    """One metric of one baseline, as the trend reads it (None: absent or not all finite)."""

    kind: Kind
    better: Better
    count: int
    mean: float | None
    median: float | None


@dataclass(frozen=True)
class Move:
    """A change point of one metric, named by the first build at the new level."""

    key: str
    at: int
    """The build's index in the trend, oldest first."""
    build: Build
    since: Build
    """The last build at the old level: the commits between the two moved it."""
    before: float
    after: float
    relative: float
    p_value: float
    improved: bool
    """Whether it moved the way the metric is better."""

    def sentence(self) -> str:
        """``floor_iou fell 12% (0.91 → 0.8) at abc1234 (2026-12-07), by ada: worse``."""
        verb = "rose" if self.after > self.before else "fell"
        size = (
            f"{abs(self.relative):.0%} ({self.before:.4g} → {self.after:.4g})"
            if math.isfinite(self.relative)
            else f"from {self.before:.4g} to {self.after:.4g}"
        )
        build = self.build
        return (
            f"{clean(self.key)} {verb} {size} at {clean(short(build.commit)) or '(no commit)'} "
            f"({build.made_at:%Y-%m-%d}), by {clean(build.recorded_by)}: "
            f"{'better' if self.improved else 'worse'}"
        )


@dataclass(frozen=True)
class Level:
    """A stretch of builds at one level: ``first`` to ``last`` (build indices, inclusive)."""

    first: int
    last: int
    value: float


@dataclass(frozen=True)
class MetricTrend:
    key: str
    kind: Kind
    better: Better
    values: tuple[float | None, ...]
    """One per build, oldest first: None where the build did not measure it."""
    moves: tuple[Move, ...]
    levels: tuple[Level, ...]


@dataclass(frozen=True)
class Trend:
    builds: tuple[Build, ...]
    """Oldest first."""
    metrics: tuple[MetricTrend, ...]
    """By key."""

    @property
    def moves(self) -> list[Move]:
        """Every metric's change points, the newest first."""
        every = [move for metric in self.metrics for move in metric.moves]
        return sorted(every, key=lambda move: (-move.at, move.key))


def summarise(figures: Mapping[str, Any]) -> dict[str, Summary]:
    """Each metric of a baseline's figures (their JSON, as stored) by key.

    Read leniently, without the whole ``Figures`` model: the figures of older Rainbows, and a
    sample the store kept as null, still draw.
    """
    metrics = figures.get("metrics")
    if not isinstance(metrics, Mapping):
        return {}
    found = {}
    for key, metric in metrics.items():
        if not isinstance(metric, Mapping):
            continue
        kind: Kind = "timing" if metric.get("kind") == "timing" else "quality"
        better: Better = "low" if metric.get("better") == "low" else "high"
        values = metric.get("values")
        samples: list[Any] = values if isinstance(values, list) else []
        # One sample not finite, and compare counts the metric absent: so does the trend.
        ordered = sorted(samples) if samples and all(map(_finite_number, samples)) else []
        found[str(key)] = Summary(
            kind,
            better,
            len(samples),
            mean(ordered) if ordered else None,
            quantile(ordered, 0.5) if ordered else None,
        )
    return found


def _finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond every float
        return False


def trend_of(
    builds: Sequence[Build],
    summaries: Sequence[Mapping[str, Summary]],
    *,
    max_p: float = MAX_P,
    min_magnitude: float = MIN_MAGNITUDE,
) -> Trend:
    """The trend of ``builds`` (oldest first), each with its metrics' ``summaries``.

    A metric is judged as the newest build that measured it declares it (kind, better), so a
    series never mixes means with medians.
    """
    declared: dict[str, Summary] = {}
    for summary in summaries:
        declared.update(summary)
    metrics = []
    for key in sorted(declared):
        kind, better = declared[key].kind, declared[key].better
        values = tuple(_judged(summary.get(key), kind) for summary in summaries)
        present = [at for at, value in enumerate(values) if value is not None]
        measured = [value for value in values if value is not None]
        found = shifts(measured, max_p=max_p, min_magnitude=min_magnitude)
        moves = tuple(
            Move(
                key=key,
                at=present[shift.index],
                build=builds[present[shift.index]],
                since=builds[present[shift.index - 1]],
                before=shift.before,
                after=shift.after,
                relative=shift.relative,
                p_value=shift.p_value,
                improved=(shift.after > shift.before) == (better == "high"),
            )
            for shift in found
        )
        levels = _levels(present, found, measured)
        metrics.append(MetricTrend(key, kind, better, values, moves, levels))
    return Trend(tuple(builds), tuple(metrics))


def _judged(summary: Summary | None, kind: Kind) -> float | None:
    if summary is None:
        return None
    return summary.median if kind == "timing" else summary.mean


def _levels(
    present: Sequence[int], found: Sequence[Shift], values: Sequence[float]
) -> tuple[Level, ...]:
    """The stretches between the change points, over the builds that measured the metric."""
    if not present:
        return ()
    if not found:
        return (Level(present[0], present[-1], mean(values)),)
    starts = [0, *(shift.index for shift in found)]
    ends = [*(shift.index for shift in found), len(present)]
    levels = [found[0].before, *(shift.after for shift in found)]
    return tuple(
        Level(present[start], present[end - 1], value)
        for start, end, value in zip(starts, ends, levels, strict=True)
    )


def main_trend(target: str, corpus_hash: str, *, branch: str, last: int) -> Trend:
    """The last ``last`` baselines of ``target`` on ``branch`` measured on ``corpus_hash``,
    oldest first, with their metrics' trends: one query, its rows read a few at a time."""
    from rainbow.control.models import Baseline
    from rainbow.control.persistence.store import store_errors

    rows = (
        Baseline.objects.filter(target=target, branch=branch, corpus_hash=corpus_hash)
        .order_by("-recorded_at", "-id")
        .values_list("pk", "commit", "made_at", "actor_name", "figures")[:last]
    )
    builds, summaries = [], []
    with store_errors("the store refused the question", "the store failed"):
        for pk, commit, made_at, actor, figures in rows.iterator(chunk_size=READ_CHUNK):
            builds.append(Build(pk, commit, made_at, actor))
            summaries.append(summarise(figures if isinstance(figures, Mapping) else {}))
    builds.reverse()
    summaries.reverse()
    return trend_of(builds, summaries)
