"""The two-sided Mann-Whitney U test, in pure Python: whether two samples (timings of a baseline
and of now) come from one distribution, without assuming any shape for it.

It follows ``scipy.stats.mannwhitneyu(x, y, alternative="two-sided")`` (its tests hold it to
scipy's answers): ``auto`` is exact when one sample has at most 8 values and there are no ties,
else the normal approximation with the tie and continuity corrections. Rainbow's core does not
depend on numpy, so it cannot simply call scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Method = Literal["auto", "exact", "asymptotic"]

EXACT_UP_TO = 8
"""``auto`` is exact when the smaller sample has at most this many values (as scipy's is)."""


@dataclass(frozen=True)
class MannWhitney:
    u: float
    """U of the first sample: how many (x, y) pairs have x > y, a tie counting a half."""
    p_value: float
    method: Literal["exact", "asymptotic"]


def mann_whitney(x: Sequence[float], y: Sequence[float], *, method: Method = "auto") -> MannWhitney:
    """Test whether ``x`` and ``y`` differ, two-sided.

    ``exact`` makes no correction for ties: it tests the whole part of U (as scipy does), which
    can only raise the p-value.
    """
    if not x or not y:
        raise ValueError("both samples need at least one value")
    if any(math.isnan(v) for v in (*x, *y)):
        raise ValueError("the samples must not hold NaN")
    n1, n2 = len(x), len(y)
    ranks, ties = _ranks([*x, *y])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    # The larger U with the upper tail gives the two-sided p-value by symmetry.
    u = max(u1, n1 * n2 - u1)
    if method == "auto":
        small = min(n1, n2) <= EXACT_UP_TO
        method = "exact" if small and not ties else "asymptotic"
    if method == "exact":
        counts = _u_counts(n1, n2)
        upper_tail = sum(counts[: n1 * n2 - math.floor(u) + 1])
        p = 2 * upper_tail / math.comb(n1 + n2, n1)
    else:
        p = _normal_p(u, n1, n2, ties)
    return MannWhitney(u=u1, p_value=min(max(p, 0.0), 1.0), method=method)


def smallest_p(n: int, m: int) -> float:
    """The smallest two-sided p-value the exact test can give samples of ``n`` and ``m`` values.

    Only the most extreme ordering (every value of one sample above every value of the other)
    reaches it, and there are two such among the ``C(n+m, n)`` equally likely ones. A threshold
    below it can never be met, so a caller must judge such samples another way.
    """
    if n < 1 or m < 1:
        raise ValueError("both samples need at least one value")
    return min(1.0, 2 / math.comb(n + m, n))


def _ranks(values: list[float]) -> tuple[list[float], list[int]]:
    """Each value's rank (1-based, ties sharing their mean rank) and the size of each tie."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties = []
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and values[order[end]] == values[order[start]]:
            end += 1
        for index in order[start:end]:
            ranks[index] = (start + 1 + end) / 2
        if end - start > 1:
            ties.append(end - start)
        start = end
    return ranks, ties


def _normal_p(u: float, n1: int, n2: int, ties: list[int]) -> float:
    n = n1 + n2
    # The variance in integers first, so an all-tied sample gives exactly 0 rather than a
    # rounding error below it.
    tie_term = sum(t**3 - t for t in ties)
    variance = n1 * n2 * ((n + 1) * n * (n - 1) - tie_term) / (12 * n * (n - 1))
    if variance == 0:
        return 1.0
    # The continuity correction always moves U towards the mean: U is the upper one.
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return math.erfc(z / math.sqrt(2))


@lru_cache(maxsize=64)
def _u_counts(n1: int, n2: int) -> tuple[int, ...]:
    """How many of the ``C(n1+n2, n1)`` orderings give each U from 0 to ``n1*n2``.

    These are the coefficients of the Gaussian binomial ``[n1+n2 choose n1]`` in q, built as the
    product over i of ``(1 - q^(n2+i)) / (1 - q^i)``; every partial product is itself a Gaussian
    binomial, so each division is exact in integers. That is O(n1²·n2) for n1 the smaller size,
    where the textbook recurrence over (n1, n2, U) is O(n1²·n2²).
    """
    small, large = min(n1, n2), max(n1, n2)
    counts = [1]
    for i in range(1, small + 1):
        shift = large + i
        product = counts + [0] * shift
        for k, c in enumerate(counts):
            product[k + shift] -= c
        quotient = product[: i * large + 1]
        for k in range(i, len(quotient)):
            quotient[k] += quotient[k - i]
        counts = quotient
    return tuple(counts)
