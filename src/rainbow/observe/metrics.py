"""Prometheus metrics. Every timeout has a histogram: step, run and ``ctx.timeout`` blocks.

The engine does not know them: :func:`observe` is the observer a process hands its executor
or worker, and turns the facts they tell (:mod:`rainbow.observe.facts`) into updates.

Processes expose them with :func:`serve`. A Celery worker forks children that record attempts,
so it runs in prometheus_client's multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` must be set
before this module is first imported (the ``rainbow worker`` command does that).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

from rainbow.errors import UserError
from rainbow.observe.facts import (
    AttemptEnded,
    AttemptWaited,
    Fact,
    MessageRejected,
    ParkedMeasured,
    QueueMeasured,
    RetryScheduled,
    RunEnded,
)

LOOPBACK = "127.0.0.1"

_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

STEP_DURATION = Histogram(
    "rainbow_step_duration_seconds",
    "Duration of step attempts",
    ["module", "version", "status"],
    buckets=_BUCKETS,
)
BLOCK_DURATION = Histogram(
    "rainbow_block_duration_seconds",
    "Duration of ctx.timeout blocks inside modules",
    ["module", "block"],
    buckets=_BUCKETS,
)
RUN_DURATION = Histogram(
    "rainbow_run_duration_seconds",
    "Duration of runs",
    ["pipeline", "status"],
    buckets=_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "rainbow_queue_wait_seconds",
    "Time an attempt waited in its instance queue before a worker started it",
    ["module", "version"],
    buckets=_BUCKETS,
)
QUEUE_DEPTH = Gauge(
    "rainbow_queue_depth",
    "Attempts waiting in or held from an instance queue (ready + unacked)",
    ["module", "version"],
    multiprocess_mode="livemax",
)
REJECTED = Counter(
    "rainbow_rejected_messages_total",
    "Messages refused as undecodable (pickle, malformed JSON) or not Rainbow's",
    ["where"],
)
PARKED_EVENTS = Gauge(
    "rainbow_parked_events",
    "Events set aside in the rainbow.parked queue (poison or unrecordable) for an operator",
    multiprocess_mode="livemax",
)
RETRIES = Counter("rainbow_retries_total", "Step attempts that were retried", ["module", "version"])
TIMEOUTS = Counter("rainbow_timeouts_total", "Step attempts that timed out", ["module", "version"])
WORKER_LOST = Counter(
    "rainbow_worker_lost_total", "Step attempts whose process died", ["module", "version"]
)


@functools.cache
def _step_histogram(module: str, version: str, status: str) -> Any:
    # labels() costs a lock and a dict lookup per call; an executor records thousands a second.
    return STEP_DURATION.labels(module, version, status)


@functools.cache
def _block_histogram(module: str, block: str) -> Any:
    return BLOCK_DURATION.labels(module, block)


def observe(facts: Sequence[Fact]) -> None:
    """The Prometheus observer: what the engine tells, as metric updates."""
    for fact in facts:
        match fact:
            case AttemptEnded():
                _attempt_ended(fact)
            case AttemptWaited(module, version, waited_s):
                QUEUE_WAIT.labels(module, version).observe(waited_s)
            case RetryScheduled(module, version):
                RETRIES.labels(module, version).inc()
            case RunEnded(pipeline, status, duration_s):
                RUN_DURATION.labels(pipeline, status).observe(duration_s)
            case MessageRejected(where):
                REJECTED.labels(where).inc()
            case QueueMeasured(module, version, depth):
                QUEUE_DEPTH.labels(module, version).set(depth)
            case ParkedMeasured(count):
                PARKED_EVENTS.set(count)


def _attempt_ended(fact: AttemptEnded) -> None:
    if fact.duration_s is not None:
        _step_histogram(fact.module, fact.version, fact.status).observe(fact.duration_s)
    for block, seconds in fact.timings.items():
        _block_histogram(fact.module, block).observe(seconds)
    if fact.status == "timed_out":
        TIMEOUTS.labels(fact.module, fact.version).inc()
    elif fact.status == "worker_lost":
        WORKER_LOST.labels(fact.module, fact.version).inc()


def serve(port: int, host: str = LOOPBACK) -> WSGIServer:
    """Expose ``/metrics`` on ``host:port`` from a background thread (aggregating children's
    files in multiprocess mode) and return its server.

    The endpoint has no authentication, so it listens on the loopback interface unless a host
    is given (``0.0.0.0`` for a Prometheus on another machine or outside the pod)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    try:
        server, _ = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # the port is taken, or the host is not an address of this machine
        raise UserError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
            hint="pick a free --metrics-port, and for --metrics-host an address of this machine",
        ) from None
    return server
