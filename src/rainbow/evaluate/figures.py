"""What an evaluation measured: every metric over a corpus, per step and for the pipeline.

``Figures`` is what a baseline stores (a file, or the control plane) and what ``compare`` reads;
it is plain JSON, so a baseline written by one Rainbow is read by the next.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FIGURES_FORMAT = 1
# Figures arrive from outside too (POST /api/baselines, --baseline FILE): every part is bounded.
MAX_UNITS = 100_000
MAX_SAMPLES = 1_000_000
"""Samples of one metric: a unit per sample, repeats included."""
MAX_METRICS = 5_000
Text = Annotated[str, Field(max_length=10_000)]
Key = Annotated[str, Field(max_length=20_000)]
FAILED_UNITS = "run:failed_units"
"""Rainbow's count of failed units: a quality metric, better low, no tolerance by default."""

Better = Literal["high", "low"]
Kind = Literal["quality", "timing"]


class Tolerance(BaseModel):
    """How much worse than the baseline a metric may get: the larger of the two bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    absolute: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    relative: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    def bound(self, baseline: float) -> float:
        return max(self.absolute, self.relative * abs(baseline))


class MetricFigures(BaseModel):
    """One metric over a corpus: its samples (one per unit and repeat) and their summary.

    ``key`` is ``STEP.METRIC`` for what a step reported, ``run:METRIC`` for what Rainbow
    measures of each run (``run:failed_units``, ``run:duration_s``): a step id never holds
    a colon, so the two never clash.
    """

    model_config = ConfigDict(extra="forbid")

    key: Key
    step: Text
    name: Text
    better: Better
    kind: Kind = "quality"
    tolerance: Tolerance | None = None
    """As declared where the metric is emitted; None when it was not."""
    units: Annotated[list[Text], Field(max_length=MAX_SAMPLES)]
    """The unit of each sample, in the order of ``values``."""
    values: Annotated[list[float], Field(max_length=MAX_SAMPLES)]
    reused: int = Field(default=0, ge=0)
    """Samples not taken because the step came from the step cache (a timing: nothing ran)."""

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        if not self.values:
            return float("nan")
        try:
            return statistics.fmean(self.values)
        except OverflowError:  # huge finite samples: divided first, their sum stays finite
            return math.fsum(v / len(self.values) for v in self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def minimum(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def maximum(self) -> float:
        return max(self.values) if self.values else float("nan")


class CorpusRef(BaseModel):
    """Which corpus the figures were measured on: a baseline compares only on the same one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text
    version: Annotated[str, Field(max_length=64)]
    content_hash: Annotated[str, Field(max_length=71)]
    """``sha256:…`` over every unit's files (see ``evaluate.corpus``); for a folder without a
    manifest, over its files as found."""


class Figures(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = FIGURES_FORMAT
    target: Annotated[str, Field(min_length=1, max_length=220)]
    """The pipeline's name (or ``module:NAME`` for a single module)."""
    spec_hash: Annotated[str, Field(max_length=71)]
    corpus: CorpusRef
    commit: Annotated[str, Field(max_length=80)] = ""
    """The commit the evaluation ran on (of the pipeline's project); empty outside git."""
    branch: Annotated[str, Field(max_length=200)] = ""
    made_at: datetime
    repeats: int = Field(default=1, ge=1, le=100)
    overrides: Annotated[list[Annotated[str, Field(max_length=2000)]], Field(max_length=50)] = (
        Field(default_factory=list)
    )
    """What was swapped for this evaluation (``NAME=SOURCE``): a one-off of the target."""
    units: Annotated[list[Text], Field(max_length=MAX_UNITS)]
    """Every unit of the corpus, by name."""
    failed_units: Annotated[list[Text], Field(max_length=MAX_UNITS)] = Field(default_factory=list)
    runs: Annotated[
        dict[Text, Annotated[list[Text], Field(max_length=100)]],
        Field(max_length=MAX_UNITS),
    ] = Field(default_factory=dict)
    """Each unit's run ids (one per repeat), to find its outputs for a report."""
    metrics: Annotated[dict[Key, MetricFigures], Field(max_length=MAX_METRICS)]
    """By key."""

    @model_validator(mode="after")
    def _samples_have_their_units(self) -> Figures:
        for key, metric in self.metrics.items():
            if len(metric.units) != len(metric.values):
                raise ValueError(
                    f"metric {key[:80]!r}: {len(metric.values)} values, {len(metric.units)} units"
                )
        return self
