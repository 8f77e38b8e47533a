"""The pure-Python Mann-Whitney U test agrees with scipy's, which is the reference."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from rainbow.evaluate.ranks import Method, mann_whitney, smallest_p

# Timed examples would fail on a busy, shared machine, not on a wrong answer.
unhurried = settings(deadline=None)
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def tie_free(draw: st.DrawFn, max_size: int = 20) -> tuple[list[float], list[float]]:
    """Two samples with no value in common or repeated, the smaller of at most 8."""
    pool = draw(st.lists(values, min_size=2, max_size=max_size, unique=True))
    cut = draw(st.integers(min_value=1, max_value=len(pool) - 1))
    x, y = pool[:cut], pool[cut:]
    if min(len(x), len(y)) > 8:
        y = y[:8]
    return x, y


@st.composite
def tied(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    """Two samples of a few distinct values, so ties are the rule."""
    level = st.integers(min_value=0, max_value=4).map(float)
    x = draw(st.lists(level, min_size=1, max_size=30))
    y = draw(st.lists(level, min_size=1, max_size=30))
    return x, y


def assert_matches(x: list[float], y: list[float], method: Method) -> None:
    ours = mann_whitney(x, y, method=method)
    theirs = mannwhitneyu(x, y, method=method)
    assert ours.u == pytest.approx(float(theirs.statistic), abs=1e-9)
    assert math.isclose(ours.p_value, float(theirs.pvalue), rel_tol=1e-9, abs_tol=1e-15)


@unhurried
@given(tie_free())
def test_auto_is_exact_for_small_samples_without_ties(samples: tuple) -> None:
    """Without ties and with a sample of at most 8, auto uses the exact distribution, as scipy."""
    x, y = samples
    assert mann_whitney(x, y).method == "exact"
    assert_matches(x, y, "auto")


@unhurried
@given(tie_free(max_size=30))
def test_exact_matches_scipy(samples: tuple) -> None:
    """The exact p-value equals scipy's exact one."""
    assert_matches(*samples, "exact")


@unhurried
@given(tied())
def test_ties_use_the_corrected_normal_approximation(samples: tuple) -> None:
    """With ties, auto uses the normal approximation with tie and continuity corrections."""
    x, y = samples
    if len(set(x + y)) < len(x + y):
        assert mann_whitney(x, y).method == "asymptotic"
    assert_matches(x, y, "auto")
    assert_matches(x, y, "asymptotic")


@unhurried
@given(tied())
def test_exact_with_ties_matches_scipy(samples: tuple) -> None:
    """Forced exact with ties tests U's whole part, as scipy does (never smaller p-values)."""
    assert_matches(*samples, "exact")


@unhurried
@given(
    st.lists(values, min_size=9, max_size=60),
    st.lists(values, min_size=9, max_size=60),
)
def test_large_samples_use_the_normal_approximation(x: list[float], y: list[float]) -> None:
    """Both samples above 8 values: auto is asymptotic, and so is scipy."""
    assert mann_whitney(x, y).method == "asymptotic"
    assert_matches(x, y, "auto")


def test_identical_samples_give_p_one() -> None:
    """Samples of one repeated value carry no evidence: p is 1, not a division by zero."""
    result = mann_whitney([2.0, 2.0, 2.0], [2.0, 2.0])
    assert result.p_value == 1.0
    assert result.u == 3.0


def test_separated_samples_reach_the_known_exact_p() -> None:
    """Five below four: the textbook p of 2/126."""
    result = mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9])
    assert result.u == 0
    assert result.p_value == pytest.approx(2 / 126)


@pytest.mark.parametrize(("x", "y"), [([], [1.0]), ([1.0], []), ([math.nan], [1.0])])
def test_refuses_empty_samples_and_nan(x: list[float], y: list[float]) -> None:
    """An empty sample or a NaN has no rank: refused, as scipy refuses it."""
    with pytest.raises(ValueError, match="sample"):
        mann_whitney(x, y)


@pytest.mark.parametrize(
    ("n", "m"), [(n, m) for n in range(1, 7) for m in range(1, 7) if n + m <= 10]
)
def test_smallest_p_is_the_least_exact_p_over_every_ordering(n: int, m: int) -> None:
    """Over every way to interleave the samples, scipy's exact p never goes below smallest_p."""
    least = 1.0
    for positions in itertools.combinations(range(n + m), n):
        x = [float(i) for i in positions]
        y = [float(i) for i in range(n + m) if i not in positions]
        least = min(least, float(mannwhitneyu(x, y, method="exact").pvalue))
    assert smallest_p(n, m) == pytest.approx(least, rel=1e-12)


@unhurried
@given(st.integers(min_value=1, max_value=15), st.integers(min_value=1, max_value=15))
def test_smallest_p_is_scipys_p_for_separated_samples(n: int, m: int) -> None:
    """Every value of one sample above every value of the other gives smallest_p, symmetric."""
    x = [float(i) for i in range(n)]
    y = [float(i) for i in range(n, n + m)]
    expected = float(mannwhitneyu(x, y, method="exact").pvalue)
    assert smallest_p(n, m) == pytest.approx(expected, rel=1e-9)
    assert smallest_p(n, m) == smallest_p(m, n)


def test_six_against_six_cannot_reach_asvs_threshold() -> None:
    """2/C(12, 6) is just above 0.002 (asv's 1/C check would wrongly run the test), 6 v 7 below."""
    assert smallest_p(6, 6) > 0.002
    assert smallest_p(6, 7) < 0.002


def test_smallest_p_refuses_an_empty_sample() -> None:
    """No test exists for an empty sample."""
    with pytest.raises(ValueError, match="sample"):
        smallest_p(0, 3)
