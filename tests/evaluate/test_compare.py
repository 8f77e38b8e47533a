"""Comparing figures with a baseline: verdicts by direction and bound, timings by factor and
rank test, the refusals, and the order and exit code of the result."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainbow.errors import UserError
from rainbow.evaluate.compare import CompareSettings, compare
from rainbow.evaluate.comparison import Comparison, Row
from rainbow.evaluate.figures import Better, CorpusRef, Figures, Kind, MetricFigures, Tolerance

# Timed examples would fail on a busy, shared machine, not on a wrong answer.
unhurried = settings(deadline=None)
CORPUS = CorpusRef(name="room-scan", version="1", content_hash="sha256:" + "a" * 64)


def metric(
    key: str,
    values: list[float],
    *,
    better: Better = "high",
    kind: Kind = "quality",
    tolerance: Tolerance | None = None,
) -> MetricFigures:
    # Rainbow's own figures are run:NAME; a step's are STEP.NAME.
    step, _, name = key.partition(":") if key.startswith("run:") else key.partition(".")
    return MetricFigures(
        key=key,
        step=step,
        name=name,
        better=better,
        kind=kind,
        tolerance=tolerance,
        units=[f"unit-{i}" for i in range(len(values))],
        values=values,
    )


def figures(
    *metrics: MetricFigures, commit: str = "abc1234def", corpus: CorpusRef = CORPUS
) -> Figures:
    return Figures(
        target="room-scan",
        spec_hash="sha256:" + "b" * 64,
        corpus=corpus,
        commit=commit,
        branch="main",
        made_at=datetime(2026, 12, 1, tzinfo=UTC),
        units=["unit-0", "unit-1"],
        metrics={m.key: m for m in metrics},
    )


def one_row(before: MetricFigures, after: MetricFigures, **options: object) -> Row:
    comparison = compare(figures(before), figures(after, commit="fff0000"), **options)
    [row] = comparison.rows
    return row


def timings(median: float, spread: float = 0.01, count: int = 20) -> list[float]:
    """``count`` distinct samples evenly around ``median``."""
    return [median * (1 + spread * (i - (count - 1) / 2) / count) for i in range(count)]


# Quality metrics


def test_a_fall_beyond_the_bound_is_a_regression() -> None:
    """A higher-is-better mean falling by more than 1 % of the baseline regresses, and says so."""
    row = one_row(metric("segment.floor_iou", [0.912]), metric("segment.floor_iou", [0.871]))
    assert row.verdict == "regression"
    assert row.baseline == 0.912
    assert row.now == 0.871
    assert row.baseline_commit == "abc1234def"
    assert row.change == pytest.approx(-0.041)
    assert row.relative_change == pytest.approx(-0.041 / 0.912)
    assert row.bound == pytest.approx(0.00912)
    assert row.bound_source == "default"
    assert row.explanation == (
        "floor_iou of segment fell from 0.912 to 0.871 (-4.5%), more than the 0.00912 allowed"
    )


def test_a_rise_beyond_the_bound_is_an_improvement() -> None:
    """The same move the other way is an improvement."""
    row = one_row(metric("segment.floor_iou", [0.871]), metric("segment.floor_iou", [0.912]))
    assert row.verdict == "improvement"
    assert "rose from 0.871 to 0.912 (+4.7%)" in row.explanation


def test_a_move_within_the_bound_is_unchanged() -> None:
    """Falling by less than the bound is unchanged, either way."""
    row = one_row(metric("segment.floor_iou", [0.9, 0.92]), metric("segment.floor_iou", [0.905]))
    assert row.verdict == "unchanged"
    assert row.baseline == pytest.approx(0.91)
    assert "within the 0.0091 allowed" in row.explanation


def test_equal_values_stay() -> None:
    """Equal means are unchanged, and the explanation says the value stayed."""
    row = one_row(metric("segment.floor_iou", [0.5]), metric("segment.floor_iou", [0.5]))
    assert row.verdict == "unchanged"
    assert row.explanation == "floor_iou of segment stayed at 0.5"


def test_lower_is_better_turns_a_rise_into_a_regression() -> None:
    """For better="low", a rising mean is the regression."""
    before = metric("segment.error", [0.10], better="low")
    assert one_row(before, metric("segment.error", [0.12], better="low")).verdict == "regression"
    assert one_row(before, metric("segment.error", [0.08], better="low")).verdict == "improvement"


def test_means_over_every_sample_are_compared() -> None:
    """The figure of a quality metric is the mean of its samples, units and repeats alike."""
    row = one_row(metric("s.m", [1.0, 3.0]), metric("s.m", [1.0, 2.0, 3.0, 4.0]))
    assert (row.baseline, row.now) == (2.0, 2.5)
    assert (row.baseline_count, row.now_count) == (2, 4)


def test_a_zero_baseline_has_only_the_absolute_bound_and_no_relative_change() -> None:
    """With a baseline of 0 the bound is the absolute floor; float dust is not a regression."""
    before = metric("s.false_walls", [0.0], better="low")
    dust = one_row(before, metric("s.false_walls", [1e-12], better="low"))
    assert dust.verdict == "unchanged"
    assert dust.relative_change is None
    assert dust.bound == 1e-9
    real = one_row(before, metric("s.false_walls", [0.01], better="low"))
    assert real.verdict == "regression"
    assert "rose from 0 to 0.01, more than" in real.explanation


def test_negative_baselines_use_their_magnitude() -> None:
    """A negative baseline's bound is relative to its magnitude; direction comes from the sign
    of the difference, not of a ratio."""
    before = metric("s.log_likelihood", [-2.0])
    row = one_row(before, metric("s.log_likelihood", [-2.1]))
    assert row.verdict == "regression"
    assert row.bound == pytest.approx(0.02)
    assert row.relative_change == pytest.approx(-0.05)
    assert one_row(before, metric("s.log_likelihood", [-1.9])).verdict == "improvement"
    assert one_row(before, metric("s.log_likelihood", [-2.01])).verdict == "unchanged"


# Where the bound comes from


def test_tolerance_precedence() -> None:
    """Manifest by key > manifest by name > declared now > declared in the baseline > default."""
    declared_before = Tolerance(absolute=0.2)
    declared_now = Tolerance(absolute=0.3)
    before = metric("segment.floor_iou", [0.9], tolerance=declared_before)
    after = metric("segment.floor_iou", [0.8], tolerance=declared_now)
    by_key = Tolerance(absolute=0.5)
    by_name = Tolerance(absolute=0.4)

    both = one_row(before, after, tolerances={"segment.floor_iou": by_key, "floor_iou": by_name})
    assert (both.bound, both.bound_source) == (0.5, "manifest")
    name = one_row(before, after, tolerances={"floor_iou": by_name})
    assert (name.bound, name.bound_source) == (0.4, "manifest")
    now = one_row(before, after)
    assert (now.bound, now.bound_source) == (0.3, "declared")
    baseline = one_row(before, metric("segment.floor_iou", [0.8]))
    assert (baseline.bound, baseline.bound_source) == (0.2, "declared")
    default = one_row(metric("segment.floor_iou", [0.9]), metric("segment.floor_iou", [0.8]))
    assert (default.bound, default.bound_source) == (pytest.approx(0.009), "default")


def test_a_bare_name_applies_to_that_metric_of_every_step() -> None:
    """A manifest tolerance by name bounds the metric wherever a step reports it."""
    loose = {"iou": Tolerance(absolute=0.5)}
    comparison = compare(
        figures(metric("a.iou", [0.9]), metric("b.iou", [0.9])),
        figures(metric("a.iou", [0.7]), metric("b.iou", [0.6])),
        tolerances=loose,
    )
    assert [(r.key, r.verdict, r.bound) for r in comparison.rows] == [
        ("a.iou", "unchanged", 0.5),
        ("b.iou", "unchanged", 0.5),
    ]


def test_the_larger_of_absolute_and_relative_bounds_applies() -> None:
    """Tolerance(absolute, relative) allows the larger of the two."""
    tolerance = {"s.m": Tolerance(absolute=0.05, relative=0.1)}
    small = one_row(metric("s.m", [0.1]), metric("s.m", [0.06]), tolerances=tolerance)
    assert (small.bound, small.verdict) == (0.05, "unchanged")
    large = one_row(metric("s.m", [10.0]), metric("s.m", [9.5]), tolerances=tolerance)
    assert (large.bound, large.verdict) == (1.0, "unchanged")


def test_custom_default_settings() -> None:
    """CompareSettings changes the defaults of metrics that declare nothing."""
    strict = CompareSettings(quality=Tolerance(absolute=0.001))
    row = one_row(metric("s.m", [0.9]), metric("s.m", [0.898]), settings=strict)
    assert (row.bound, row.verdict) == (0.001, "regression")


def test_a_tolerance_for_an_unknown_metric_is_refused() -> None:
    """A manifest tolerance matching no key or name is RB-E098, with the metrics in the hint."""
    base = figures(
        metric("segment.floor_iou", [0.9]), metric("run:duration_s", [1.0], kind="timing")
    )
    with pytest.raises(UserError) as caught:
        compare(base, base, tolerances={"segment.floor_iuo": Tolerance()})
    error = caught.value
    assert error.code == "RB-E098"
    assert "'segment.floor_iuo'" in error.message
    assert error.hint is not None
    assert "did you mean 'segment.floor_iou'" in error.hint
    assert "'run:duration_s', 'segment.floor_iou'" in error.hint


def test_a_tolerance_known_only_to_the_baseline_is_accepted() -> None:
    """A metric in either figures is known: a tolerance for one now missing is no mistake."""
    comparison = compare(
        figures(metric("s.gone", [1.0])), figures(), tolerances={"gone": Tolerance()}
    )
    assert [r.verdict for r in comparison.rows] == ["missing"]


def test_the_hint_for_many_metrics_is_bounded() -> None:
    """The hint names at most 10 metrics and says how many more there are."""
    many = figures(*(metric(f"s.m{i:02}", [1.0]) for i in range(25)))
    with pytest.raises(UserError) as caught:
        compare(many, many, tolerances={"nothing-like-it": Tolerance()})
    assert caught.value.hint is not None
    assert caught.value.hint.endswith("'s.m09' and 15 more")


# The corpus


def test_another_corpus_is_refused() -> None:
    """Figures of another corpus (content hash) are RB-E099, naming both and the way out."""
    other = CorpusRef(name="room-scan", version="2", content_hash="sha256:" + "c" * 64)
    with pytest.raises(UserError) as caught:
        compare(figures(corpus=CORPUS), figures(corpus=other))
    error = caught.value
    assert error.code == "RB-E099"
    assert "'room-scan'@'1'" in error.message
    assert "'room-scan'@'2'" in error.message
    assert "without a new version" not in error.message
    assert error.hint is not None
    assert "--update-baseline" in error.hint
    assert "--save-baseline" in error.hint


def test_an_edited_corpus_under_the_same_version_is_refused_and_said_so() -> None:
    """The same name and version with other files: the message says the files changed."""
    edited = CORPUS.model_copy(update={"content_hash": "sha256:" + "d" * 64})
    with pytest.raises(UserError, match="changed without a new version") as caught:
        compare(figures(corpus=CORPUS), figures(corpus=edited))
    assert caught.value.code == "RB-E099"


# Missing, new, failed units


def test_a_missing_metric_is_a_regression() -> None:
    """In the baseline but not now: the verdict is missing, and it fails."""
    comparison = compare(figures(metric("segment.floor_iou", [0.9])), figures())
    [row] = comparison.rows
    assert row.verdict == "missing"
    assert (row.baseline, row.now, row.change) == (0.9, None, None)
    assert row.explanation == "floor_iou of segment was 0.9 in the baseline, absent now"
    assert comparison.regressed
    assert comparison.exit_code == 1


def test_a_new_metric_is_reported_and_never_fails() -> None:
    """Absent in the baseline: the verdict is new, and nothing fails."""
    comparison = compare(figures(), figures(metric("segment.wall_count", [4.0])))
    [row] = comparison.rows
    assert row.verdict == "new"
    assert (row.baseline, row.now, row.bound) == (None, 4.0, None)
    assert not comparison.regressed
    assert comparison.exit_code == 0


def test_a_metric_without_finite_samples_counts_as_absent() -> None:
    """NaN or no samples now cannot pass as unchanged: the metric is missing."""
    comparison = compare(
        figures(metric("s.a", [1.0]), metric("s.b", [1.0])),
        figures(metric("s.a", [float("nan")]), metric("s.b", [])),
    )
    assert [r.verdict for r in comparison.rows] == ["missing", "missing"]


def test_one_more_failed_unit_is_a_regression() -> None:
    """run:failed_units has no tolerance by default: one more failed unit fails the gate."""
    row = one_row(
        metric("run:failed_units", [0.0], better="low"),
        metric("run:failed_units", [1.0], better="low"),
    )
    assert (row.verdict, row.bound, row.bound_source) == ("regression", 0.0, "default")
    assert row.explanation == "failed_units of the run rose from 0 to 1, more than the 0 allowed"


def test_fewer_failed_units_is_an_improvement() -> None:
    """One failed unit fewer is an improvement; the same number is unchanged."""
    before = metric("run:failed_units", [2.0], better="low")
    assert one_row(before, metric("run:failed_units", [1.0], better="low")).verdict == "improvement"
    assert one_row(before, metric("run:failed_units", [2.0], better="low")).verdict == "unchanged"


# Timing metrics


def timing(key: str, values: list[float], better: Better = "low") -> MetricFigures:
    return metric(key, values, better=better, kind="timing")


def test_a_significant_slowdown_beyond_the_factor_is_a_regression() -> None:
    """Medians ×1.3 apart with samples that clearly differ: a regression, with its p-value."""
    row = one_row(timing("run:duration_s", timings(1.0)), timing("run:duration_s", timings(1.3)))
    assert row.verdict == "regression"
    assert row.p_value is not None
    assert row.p_value < 0.002
    assert row.baseline == pytest.approx(1.0)
    assert row.factor == pytest.approx(1.1)
    assert row.bound == pytest.approx(0.1)
    assert row.explanation.startswith(
        "the median duration_s of the run rose from 1 to 1.3 (+30.0%), ×1.3 worse (p="
    )
    assert row.explanation.endswith("), beyond the ×1.1 allowed")


def test_a_significant_speedup_beyond_the_factor_is_an_improvement() -> None:
    """Symmetrically: ×1.3 faster and significant is an improvement."""
    row = one_row(timing("segment.time", timings(1.3)), timing("segment.time", timings(1.0)))
    assert row.verdict == "improvement"
    assert "×1.3 better" in row.explanation


def test_a_significant_change_within_the_factor_is_unchanged() -> None:
    """5 % slower, however significant, is within the ×1.1 factor."""
    row = one_row(timing("run:duration_s", timings(1.0)), timing("run:duration_s", timings(1.05)))
    assert row.p_value is not None
    assert row.p_value < 0.002
    assert row.verdict == "unchanged"
    assert "within the ×1.1 allowed" in row.explanation


def test_a_slower_median_from_noise_is_unchanged() -> None:
    """Medians ×1.3 apart but samples that do not differ significantly: unchanged, with why."""
    noisy = [1.0, 5.0, 0.2, 3.0, 0.5, 1.2, 4.0, 0.3, 2.0, 0.9]
    slower = [1.3, 5.0, 0.2, 3.0, 0.5, 1.5, 4.0, 0.3, 2.0, 0.8]
    row = one_row(timing("run:duration_s", noisy), timing("run:duration_s", slower))
    assert row.now is not None
    assert row.baseline is not None
    assert row.now / row.baseline >= 1.1
    assert row.verdict == "unchanged"
    assert "the samples do not differ (p=" in row.explanation


def test_higher_is_better_timings_invert_the_factor() -> None:
    """For a throughput (better="high"), base/now ≥ factor is the regression."""
    before = timing("s.units_per_s", timings(13.0), better="high")
    row = one_row(before, timing("s.units_per_s", timings(10.0), better="high"))
    assert row.verdict == "regression"
    assert row.bound == pytest.approx(13.0 * (1 - 1 / 1.1))
    faster = one_row(before, timing("s.units_per_s", timings(17.0), better="high"))
    assert faster.verdict == "improvement"


def test_too_few_samples_to_show_a_difference_never_change_a_timing() -> None:
    """3 samples a side cannot reach p < 0.002: even ranges far apart are not called a
    regression (two samples a side are apart one time in three by chance alone)."""
    apart = one_row(
        timing("run:duration_s", [1.0, 1.02, 1.01]), timing("run:duration_s", [1.3, 1.31, 1.29])
    )
    assert apart.verdict == "unchanged"
    assert apart.p_value == pytest.approx(0.1)
    assert "3 and 3 samples cannot show p < 0.002; --repeats N gives more" in apart.explanation
    single = one_row(timing("run:duration_s", [2.0]), timing("run:duration_s", [4.0]))
    assert single.verdict == "unchanged"


def test_six_samples_a_side_are_too_few_and_seven_are_enough() -> None:
    """6 against 6 cannot reach 0.002 (2/924 is above it); 6 against 7 can."""
    row = one_row(
        timing("run:duration_s", timings(1.0, count=6)),
        timing("run:duration_s", timings(1.5, count=6)),
    )
    assert row.verdict == "unchanged"
    assert "cannot show p < 0.002" in row.explanation
    seven = one_row(
        timing("run:duration_s", timings(1.0, count=6)),
        timing("run:duration_s", timings(1.5, count=7)),
    )
    assert seven.verdict == "regression"
    assert "cannot show" not in seven.explanation


def test_changes_below_the_absolute_floor_are_unchanged() -> None:
    """1 ms to 1.5 ms is ×1.5 but under the 1 ms default floor."""
    row = one_row(timing("s.time", timings(0.001)), timing("s.time", timings(0.0015)))
    assert row.verdict == "unchanged"
    assert "within the 0.001 floor" in row.explanation


def test_a_timing_tolerance_sets_the_factor() -> None:
    """A timing metric's tolerance reads relative as the factor less one: 0.5 means ×1.5."""
    loose = {"duration_s": Tolerance(relative=0.5)}
    row = one_row(
        timing("run:duration_s", timings(1.0)),
        timing("run:duration_s", timings(1.3)),
        tolerances=loose,
    )
    assert (row.verdict, row.factor, row.bound_source) == ("unchanged", 1.5, "manifest")


def test_a_timing_from_zero_is_infinitely_slower() -> None:
    """A baseline median of 0 makes any significant, above-floor slowdown a regression."""
    row = one_row(timing("s.time", [0.0] * 10), timing("s.time", timings(0.5, count=10)))
    assert row.verdict == "regression"
    assert row.relative_change is None


# The result


def test_rows_are_sorted_regressions_first_then_improvements_unchanged_new() -> None:
    """Regressions and missing metrics first, then improvements, unchanged and new, by key."""
    baseline = figures(
        metric("a.same", [1.0]),
        metric("b.better", [0.5]),
        metric("c.worse", [0.9]),
        metric("d.gone", [1.0]),
        metric("e.worse", [0.9]),
    )
    now = figures(
        metric("a.same", [1.0]),
        metric("b.better", [0.9]),
        metric("c.worse", [0.5]),
        metric("e.worse", [0.5]),
        metric("aa.fresh", [1.0]),
    )
    comparison = compare(baseline, now)
    assert [(r.key, r.verdict) for r in comparison.rows] == [
        ("c.worse", "regression"),
        ("d.gone", "missing"),
        ("e.worse", "regression"),
        ("b.better", "improvement"),
        ("a.same", "unchanged"),
        ("aa.fresh", "new"),
    ]
    assert comparison.count("regression", "missing") == 3
    assert comparison.exit_code == 1


def test_nothing_regressed_exits_zero() -> None:
    """Improvements, unchanged and new metrics leave the exit code 0."""
    comparison = compare(
        figures(metric("s.m", [0.5]), metric("s.n", [1.0])),
        figures(metric("s.m", [0.9]), metric("s.n", [1.0]), metric("s.o", [2.0])),
    )
    assert not comparison.regressed
    assert comparison.exit_code == 0


def test_the_result_names_both_sides() -> None:
    """The comparison carries each side's target, commit, branch, date and corpus."""
    comparison = compare(figures(commit="abc"), figures(commit="def"))
    assert (comparison.baseline.commit, comparison.now.commit) == ("abc", "def")
    assert comparison.baseline.corpus == CORPUS
    assert comparison.now.target == "room-scan"
    assert comparison.rows == []


def test_the_result_round_trips_through_json() -> None:
    """The JSON result reads back into an equal Comparison."""
    comparison = compare(
        figures(
            metric("s.m", [0.0]), timing("run:duration_s", timings(1.0)), metric("s.gone", [1.0])
        ),
        figures(
            metric("s.m", [0.5]), timing("run:duration_s", timings(2.0)), metric("s.new", [1.0])
        ),
    )
    text = comparison.model_dump_json()
    assert Comparison.model_validate_json(text) == comparison


# Properties

samples = st.lists(
    st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), min_size=1, max_size=12
)


@st.composite
def any_figures(draw: st.DrawFn) -> Figures:
    keys = draw(st.lists(st.sampled_from(["a.x", "a.y", "b.x", "run:duration_s"]), unique=True))
    return figures(
        *(
            metric(
                key,
                draw(samples),
                better="low" if key.endswith(("y", "_s")) else "high",
                kind="timing" if key == "run:duration_s" else "quality",
            )
            for key in keys
        )
    )


@unhurried
@given(any_figures())
def test_figures_compared_with_themselves_never_regress(subject: Figures) -> None:
    """The same figures on both sides: every metric is unchanged."""
    comparison = compare(subject, subject)
    assert {r.verdict for r in comparison.rows} <= {"unchanged"}
    assert comparison.exit_code == 0


@unhurried
@given(any_figures(), any_figures(), st.floats(min_value=0, max_value=10))
def test_swapping_sides_swaps_regressions_and_improvements(
    first: Figures, second: Figures, absolute: float
) -> None:
    """With a symmetric (absolute) bound, swapping baseline and now turns each quality
    regression into an improvement and back, missing into new, and keeps unchanged."""
    first = figures(*(m for m in first.metrics.values() if m.kind == "quality"))
    second = figures(*(m for m in second.metrics.values() if m.kind == "quality"))
    keys = first.metrics.keys() | second.metrics.keys()
    bound = {key: Tolerance(absolute=absolute) for key in keys}
    forth = {r.key: r.verdict for r in compare(first, second, tolerances=bound).rows}
    back = {r.key: r.verdict for r in compare(second, first, tolerances=bound).rows}
    mirror = {
        "regression": "improvement",
        "improvement": "regression",
        "missing": "new",
        "new": "missing",
        "unchanged": "unchanged",
    }
    assert back == {key: mirror[verdict] for key, verdict in forth.items()}
