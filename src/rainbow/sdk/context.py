"""``rb.Context``: what a module receives as its first argument."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rainbow.observe.logging import get_logger
from rainbow.private import private_folder
from rainbow.sdk.timeouts import TimeoutStack
from rainbow.spec.asset import Asset

MetricKind = Literal["quality", "timing"]


@dataclass(frozen=True)
class Tolerance:
    """How much worse than its baseline a metric may get before the harness calls it a
    regression: the larger of ``absolute`` and ``relative`` times the baseline's magnitude."""

    absolute: float = 0.0
    relative: float = 0.0

    def __post_init__(self) -> None:
        for field, bound in (("absolute", self.absolute), ("relative", self.relative)):
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise TypeError(f"Tolerance.{field} must be a number, got {bound!r}")
            if not math.isfinite(bound) or bound < 0:
                raise ValueError(f"Tolerance.{field} must be finite and >= 0, got {bound!r}")


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    better: Literal["high", "low"]
    kind: MetricKind = "quality"
    tolerance: Tolerance | None = None


class Context:
    """The run context of one attempt: ids, a bound logger, metrics, timeouts and new assets."""

    def __init__(
        self,
        *,
        run_id: str,
        step: str,
        module: str,
        version: str,
        attempt: int,
        workdir: Path,
        timeouts: TimeoutStack | None = None,
        files: Mapping[str, Path] | None = None,
    ) -> None:
        self.run_id = run_id
        self.step = step
        self.module = module
        self.version = version
        self.attempt = attempt
        self.log = get_logger("rainbow.module")
        self.metrics: list[Metric] = []
        self.timeouts = timeouts or TimeoutStack()
        self._workdir = workdir
        self.workdir_used = False
        self.files: Mapping[str, Path] = files or {}
        """The module's declared files (its ``rainbow.toml``), synced in, by name."""

    @property
    def workdir(self) -> Path:
        """A private scratch folder for this attempt, created on first use."""
        if not self.workdir_used:
            private_folder(self._workdir)
            self.workdir_used = True
        return self._workdir

    def metric(
        self,
        name: str,
        value: float,
        better: Literal["high", "low"] = "high",
        *,
        kind: MetricKind = "quality",
        tolerance: Tolerance | None = None,
    ) -> None:
        """Report a metric; ``better`` says which direction is an improvement.

        ``kind="timing"`` marks a noisy one (a duration): the harness compares its samples
        with a rank test rather than its mean. ``tolerance`` is how much worse than the
        baseline it may get (the corpus manifest can override it).
        """
        if better not in ("high", "low"):
            raise ValueError(f'metric {name!r}: better must be "high" or "low", got {better!r}')
        if kind not in ("quality", "timing"):
            raise ValueError(f'metric {name!r}: kind must be "quality" or "timing", got {kind!r}')
        if tolerance is not None and not isinstance(tolerance, Tolerance):
            raise TypeError(f"metric {name!r}: tolerance must be an rb.Tolerance(...)")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"metric {name!r}: value must be a finite number, got {value!r}")
        self.metrics.append(Metric(name, number, better, kind, tolerance))

    @contextmanager
    def timeout(self, name: str, seconds: float) -> Iterator[None]:
        """Run a block under its own budget; past it, ``rb.StepTimeout`` is raised inside."""
        with self.timeouts.block(name, seconds):
            yield

    def file(self, name: str) -> Path:
        """The local path of a file the module declares under ``[[files]]`` in its config."""
        if name not in self.files:
            from rainbow.sdk.files import unknown_file

            raise unknown_file(name, self.files)
        return self.files[name]

    def new_asset(self, filename: str) -> Asset:
        """A new output file: write it at ``asset.path``; it is uploaded when the module returns."""
        if not filename or Path(filename).name != filename:
            raise ValueError(f"new_asset needs a plain file name, got {filename!r}")
        path = self.workdir / "out" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        return Asset(url=str(path), local=path)

    def __repr__(self) -> str:
        return f"<Context run={self.run_id} step={self.step} attempt={self.attempt}>"

    def describe(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "step": self.step,
            "module": self.module,
            "version": self.version,
            "attempt": self.attempt,
        }
