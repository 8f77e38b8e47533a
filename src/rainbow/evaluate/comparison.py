"""What comparing an evaluation with its baseline found: a row per metric with its verdict.

``Comparison`` is the harness's result file (its JSON) and what the terminal table, ``summary``
(Markdown) and ``report`` (HTML) show; ``compare`` makes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from rainbow.evaluate.figures import Better, CorpusRef, Figures, Kind

COMPARISON_FORMAT = 1

Verdict = Literal["regression", "missing", "improvement", "unchanged", "new"]
Source = Literal["manifest", "declared", "default"]

REGRESSIONS: frozenset[Verdict] = frozenset({"regression", "missing"})


class Identity(BaseModel):
    """Which evaluation one side of a comparison is."""

    model_config = ConfigDict(extra="forbid")

    target: str
    spec_hash: str
    corpus: CorpusRef
    commit: str
    branch: str
    made_at: datetime
    overrides: list[str] = []
    """``NAME=SOURCE`` swaps this side ran with (``--override``)."""

    @classmethod
    def of(cls, figures: Figures) -> Identity:
        return cls(
            target=figures.target,
            spec_hash=figures.spec_hash,
            corpus=figures.corpus,
            commit=figures.commit,
            branch=figures.branch,
            made_at=figures.made_at,
            overrides=list(figures.overrides),
        )


class Row(BaseModel):
    """One metric's comparison. Values are means, or medians for timing metrics."""

    model_config = ConfigDict(extra="forbid")

    key: str
    step: str
    name: str
    kind: Kind
    better: Better
    """Now's, or the baseline's for a missing metric: the code under test says what it means."""
    baseline: float | None
    baseline_commit: str
    baseline_count: int
    now: float | None
    now_count: int
    change: float | None
    relative_change: float | None
    """The change over the baseline's magnitude; None when the baseline is 0."""
    bound: float | None
    """How much worse the value may get, in its own units."""
    bound_source: Source | None
    factor: float | None = None
    """For timing: the factor the medians must differ by."""
    p_value: float | None = None
    """For timing: the two-sided Mann-Whitney p-value of the samples."""
    verdict: Verdict
    explanation: str


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = COMPARISON_FORMAT
    baseline: Identity
    now: Identity
    rows: list[Row]
    """Regressions (missing metrics among them), improvements, unchanged, new; by key within."""
    regressed: bool
    exit_code: Literal[0, 1]

    def count(self, *verdicts: Verdict) -> int:
        return sum(row.verdict in verdicts for row in self.rows)
