"""Comparing an evaluation with its baseline: a verdict for every metric, by its direction and
the bound on how much worse it may get.

Pure functions, no I/O: ``compare`` reads two ``Figures`` and returns a ``Comparison`` (the
result, in ``comparison``), whose JSON is the harness's result file and from which ``summary``
writes the Markdown.

Quality metrics (deterministic, on canned units) compare their means directly. Timing metrics
are noisy and compare as asv does: the medians must differ by a factor *and* the samples must
differ by a Mann-Whitney rank test; with too few samples for the test to say so, a timing is
never called changed (``--repeats`` gives it more).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

from rainbow.errors import UserError
from rainbow.evaluate.comparison import REGRESSIONS, Comparison, Identity, Row, Source, Verdict
from rainbow.evaluate.figures import (
    FAILED_UNITS,
    Better,
    CorpusRef,
    Figures,
    Kind,
    MetricFigures,
    Tolerance,
)
from rainbow.evaluate.ranks import mann_whitney, smallest_p
from rainbow.evaluate.shown import cut, num

_ORDER: dict[Verdict, int] = {
    "regression": 0,
    "missing": 0,
    "improvement": 1,
    "unchanged": 2,
    "new": 3,
}
_HINT_NAMES = 10
_CLOSE_AMONG = 100


class CompareSettings(BaseModel):
    """The bounds a metric gets when neither the corpus manifest nor its emitter sets one.

    - ``quality``: 1 % of the baseline, at least 1e-9. Quality metrics on a fixed corpus move
      only when code, models or libraries change; other BLAS or OpenCV builds and GPU kernels
      shift the last digits of a float, and 1 % absorbs that while a fall of IoU from 0.91 to
      0.90 still fails. The tiny absolute floor keeps a baseline of 0 from failing on float dust.
    - ``failed_units`` (``run:failed_units``): none at all: one more failed unit is a
      regression, one fewer an improvement.
    - ``timing``: ``relative`` is asv's factor less one (a median 10 % slower, or ×1.1, may be
      noise of a shared CI machine); ``absolute`` ignores changes under 0.001 in the metric's
      units, 1 ms for Rainbow's own ``duration_s``, where timer and scheduler jitter outweigh
      any module's doing. A tolerance set for a timing metric is read the same way.
    - ``alpha``: asv's significance level for the rank test; strict, because a gate on every
      pull request with many timings would otherwise fail on chance alone.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    quality: Tolerance = Tolerance(absolute=1e-9, relative=0.01)
    failed_units: Tolerance = Tolerance()
    timing: Tolerance = Tolerance(absolute=0.001, relative=0.1)
    alpha: float = Field(default=0.002, gt=0, lt=1)


DEFAULT_SETTINGS = CompareSettings()
_NO_TOLERANCES: Mapping[str, Tolerance] = MappingProxyType({})


def compare(
    baseline: Figures,
    now: Figures,
    *,
    tolerances: Mapping[str, Tolerance] = _NO_TOLERANCES,
    settings: CompareSettings = DEFAULT_SETTINGS,
) -> Comparison:
    """Compare ``now`` with ``baseline``, metric by metric.

    A metric's bound comes from ``tolerances`` (the corpus manifest's, by full key or by bare
    metric name, the full key winning), else from its emitter's declaration (now's, else the
    baseline's), else from ``settings``. Refuses figures of another corpus (RB-E099) and a
    tolerance for a metric neither side has (RB-E098).
    """
    _check_corpus(baseline.corpus, now.corpus)
    _check_tolerances(tolerances, baseline, now)
    rows = []
    for key in sorted(baseline.metrics.keys() | now.metrics.keys()):
        found = now.metrics.get(key)
        row = _row(
            _usable(baseline.metrics.get(key)),
            _usable(found),
            baseline.commit,
            tolerances,
            settings,
            not_measured=found is not None and not found.values and found.reused > 0,
        )
        if row is not None:
            rows.append(row)
    rows.sort(key=lambda row: _ORDER[row.verdict])
    regressed = any(row.verdict in REGRESSIONS for row in rows)
    return Comparison(
        baseline=Identity.of(baseline),
        now=Identity.of(now),
        rows=rows,
        regressed=regressed,
        exit_code=1 if regressed else 0,
    )


def _check_corpus(baseline: CorpusRef, now: CorpusRef) -> None:
    if baseline.content_hash == now.content_hash:
        return
    edited = (
        " (the same name and version: its files changed without a new version)"
        if (baseline.name, baseline.version) == (now.name, now.version)
        else ""
    )
    raise UserError(
        f"the baseline was measured on corpus {_corpus(baseline)} and this evaluation on "
        f"{_corpus(now)}{edited}; figures compare only on the same corpus",
        hint="remake the baseline on this corpus: `rainbow evaluate --update-baseline` on main, "
        "or `--save-baseline` to keep this evaluation as the baseline",
        code="RB-E099",
    )


def _corpus(corpus: CorpusRef) -> str:
    return f"{_shown(corpus.name)}@{_shown(corpus.version)} ({_shown(corpus.content_hash[:19])})"


def _check_tolerances(tolerances: Mapping[str, Tolerance], baseline: Figures, now: Figures) -> None:
    metrics = [*baseline.metrics.values(), *now.metrics.values()]
    known = {m.key for m in metrics} | {m.name for m in metrics}
    unknown = sorted(set(tolerances) - known)
    if not unknown:
        return
    keys = sorted({m.key for m in metrics})
    listed = ", ".join(_shown(k) for k in keys[:_HINT_NAMES])
    more = f" and {len(keys) - _HINT_NAMES} more" if len(keys) > _HINT_NAMES else ""
    close = difflib.get_close_matches(unknown[0], sorted(known)[:_CLOSE_AMONG], n=3)
    hint = f"did you mean {', '.join(_shown(c) for c in close)}? " if close else ""
    hint += f"the metrics are {listed}{more}" if keys else "neither side has any metric"
    raise UserError(
        f"a tolerance is set for {', '.join(_shown(u) for u in unknown[:_HINT_NAMES])}, "
        "which no metric of the baseline or of this evaluation is (by key STEP.METRIC or name)",
        hint=hint,
        code="RB-E098",
    )


def _shown(text: str) -> str:
    """A name as a message may show it: quoted, escaped, and bounded."""
    return repr(cut(text))


def _usable(metric: MetricFigures | None) -> MetricFigures | None:
    """The metric, unless it has no finite value to compare (then it counts as absent)."""
    if metric is None or not metric.values or not all(map(math.isfinite, metric.values)):
        return None
    return metric


@dataclass(frozen=True)
class _Judgement:
    verdict: Verdict
    reason: str
    """The end of the explanation, after how the value moved."""
    bound: float | None = None
    source: Source | None = None
    factor: float | None = None
    p_value: float | None = None


def _row(
    before: MetricFigures | None,
    after: MetricFigures | None,
    baseline_commit: str,
    tolerances: Mapping[str, Tolerance],
    settings: CompareSettings,
    *,
    not_measured: bool = False,
) -> Row | None:
    """``not_measured``: every step it times came from the step cache, so nothing ran to
    time, which is neither a regression nor a missing metric."""
    either = after or before
    if either is None:
        return None
    a = _value(before, either.kind) if before else None
    b = _value(after, either.kind) if after else None
    subject = _subject(either)
    if not_measured and before is not None:
        judged = _Judgement(
            "unchanged", f"{subject} was not measured: its steps came from the cache"
        )
    elif before is None:
        judged = _Judgement("new", f"{subject} is new ({num(b)}); nothing to compare it with")
    elif after is None:
        judged = _Judgement("missing", f"{subject} was {num(a)} in the baseline, absent now")
    else:
        judged = _judge(before, after, subject, tolerances, settings)
    return Row(
        key=either.key,
        step=either.step,
        name=either.name,
        kind=either.kind,
        better=either.better,
        baseline=a,
        baseline_commit=baseline_commit,
        baseline_count=before.count if before else 0,
        now=b,
        now_count=after.count if after else 0,
        change=b - a if a is not None and b is not None else None,
        relative_change=(b - a) / abs(a) if a and b is not None else None,
        bound=judged.bound,
        bound_source=judged.source,
        factor=judged.factor,
        p_value=judged.p_value,
        verdict=judged.verdict,
        explanation=judged.reason,
    )


def _judge(
    before: MetricFigures,
    after: MetricFigures,
    subject: str,
    tolerances: Mapping[str, Tolerance],
    settings: CompareSettings,
) -> _Judgement:
    tolerance, source = _tolerance(after, before, tolerances, settings)
    if after.kind == "timing":
        judged = _timing(before, after, tolerance, settings.alpha)
    else:
        judged = _quality(before.mean, after.mean, after.better, tolerance)
    a, b = _value(before, after.kind), _value(after, after.kind)
    relative = (b - a) / abs(a) if a else None
    return replace(judged, source=source, reason=_moved(subject, a, b, relative) + judged.reason)


def _value(metric: MetricFigures, kind: Kind) -> float:
    """The figure a side is judged by: a median resists the outliers timings have."""
    return metric.median if kind == "timing" else metric.mean


def _tolerance(
    after: MetricFigures,
    before: MetricFigures,
    tolerances: Mapping[str, Tolerance],
    settings: CompareSettings,
) -> tuple[Tolerance, Source]:
    for name in (after.key, after.name):
        if name in tolerances:
            return tolerances[name], "manifest"
    declared = after.tolerance or before.tolerance
    if declared is not None:
        return declared, "declared"
    if after.kind == "timing":
        return settings.timing, "default"
    return (settings.failed_units if after.key == FAILED_UNITS else settings.quality), "default"


def _quality(a: float, b: float, better: Better, tolerance: Tolerance) -> _Judgement:
    bound = tolerance.bound(a)
    # Differences, never ratios: a baseline may be 0 or negative.
    worse_by = a - b if better == "high" else b - a
    if worse_by > bound:
        return _Judgement("regression", f", more than the {num(bound)} allowed", bound)
    if -worse_by > bound:
        return _Judgement("improvement", f", better by more than the {num(bound)} bound", bound)
    return _Judgement("unchanged", f", within the {num(bound)} allowed" if a != b else "", bound)


def _timing(
    before: MetricFigures, after: MetricFigures, tolerance: Tolerance, alpha: float
) -> _Judgement:
    """asv's rule: the medians differ by at least the factor (``1 + tolerance.relative``) and
    by more than ``tolerance.absolute``, and the samples differ: a two-sided Mann-Whitney p
    below ``alpha``. Sample sizes that cannot reach ``alpha`` (``smallest_p``) cannot show a
    difference, so the timing stays unchanged: a gate that fails on noise (two samples a side
    have ranges apart one time in three by chance) teaches people to ignore it.
    """
    a, b = before.median, after.median
    factor = 1 + tolerance.relative
    low = after.better == "low"
    worsening = _ratio(b, a) if low else _ratio(a, b)
    bound = max(tolerance.absolute, abs(a) * ((factor - 1) if low else (1 - 1 / factor)))
    p = mann_whitney(before.values, after.values).p_value
    judged = partial(_Judgement, bound=bound, factor=factor, p_value=p)
    if smallest_p(before.count, after.count) < alpha:
        differs = p < alpha
        test = f"p={p:.2g}" if differs else f"p={p:.2g} ≥ {alpha:g}"
    else:
        differs = False
        test = (
            f"{before.count} and {after.count} samples cannot show p < {alpha:g}; "
            "--repeats N gives more"
        )
    if a == b:
        return judged("unchanged", "")
    if abs(b - a) <= tolerance.absolute:
        return judged("unchanged", f", within the {num(tolerance.absolute)} floor")
    slower = worsening >= factor
    faster = worsening <= 1 / factor
    if not (slower or faster):
        return judged("unchanged", f", within the ×{factor:.3g} allowed")
    by = f"×{worsening:.3g} worse" if slower else f"×{_ratio(1, worsening):.3g} better"
    if not differs:
        return judged("unchanged", f", {by} but the samples do not differ ({test})")
    if slower:
        return judged("regression", f", {by} ({test}), beyond the ×{factor:.3g} allowed")
    return judged("improvement", f", {by} ({test}), beyond ×{factor:.3g}")


def _ratio(numerator: float, denominator: float) -> float:
    """How many times worse: a time of 0 before anything slower is infinitely worse."""
    if denominator > 0:
        return numerator / denominator
    return 1.0 if numerator <= denominator else math.inf


def _subject(metric: MetricFigures) -> str:
    where = "the run" if metric.key == f"run:{metric.name}" else metric.step
    median = "the median " if metric.kind == "timing" else ""
    return f"{median}{metric.name} of {where}"


def _moved(subject: str, a: float, b: float, relative: float | None) -> str:
    if a == b:
        return f"{subject} stayed at {num(a)}"
    percent = f" ({relative:+.1%})" if relative is not None else ""
    return f"{subject} {'rose' if b > a else 'fell'} from {num(a)} to {num(b)}{percent}"
