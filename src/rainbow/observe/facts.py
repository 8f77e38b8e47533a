"""What happened, as the executors and workers tell their observers once it is durable.

The engine never updates metrics itself: it publishes facts, after the change they describe
is committed (a rolled-back decision never happened), to an :data:`Observer` its process was
given. :mod:`rainbow.observe.metrics` turns them into Prometheus updates; notifications can
listen to the same facts later. An attempt's end is told by whoever ended it: the process
that ran it (a worker, or the local engine), or the conductor for the ends it decides alone
(no result came back, the worker died), so each end is counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    module: str
    version: str
    status: str
    duration_s: float | None
    """None when nobody measured it (the conductor ending an attempt no result came back for)."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Seconds spent in each ``ctx.timeout`` block."""


@dataclass(frozen=True, slots=True)
class AttemptWaited:
    """How long an attempt waited in its instance queue before a worker took it."""

    module: str
    version: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    module: str
    version: str


@dataclass(frozen=True, slots=True)
class RunEnded:
    pipeline: str
    status: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class MessageRejected:
    """A message refused as undecodable (pickle, malformed JSON) or not Rainbow's."""

    where: str


@dataclass(frozen=True, slots=True)
class QueueMeasured:
    """Attempts waiting in or held from an instance queue (ready + unacked), measured now."""

    module: str
    version: str
    depth: int


@dataclass(frozen=True, slots=True)
class ParkedMeasured:
    """Events set aside for an operator in the parked queue, measured now."""

    count: int


Fact = (
    AttemptEnded
    | AttemptWaited
    | RetryScheduled
    | RunEnded
    | MessageRejected
    | QueueMeasured
    | ParkedMeasured
)
Observer = Callable[[Sequence[Fact]], None]


def ignore(facts: Sequence[Fact]) -> None:
    """The observer of a process that keeps no metrics (a test, a pool child)."""
