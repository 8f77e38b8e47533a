"""How the run list's latency grows with the number of runs stored, per filter.

The control plane's run list (``GET /api/runs`` and ``rainbow runs`` through it) answers each
page with a count, one page of runs and their steps' last metrics. This benchmark times exactly
that (the service's query, the paginator's count, the page and ``last_metrics``) for several
filter combinations, first with a small table (the baseline) and then after growing it to N
runs, in a fresh SQLite file and a throwaway PostgreSQL schema. The printed ratio is the
p50 latency with N runs over the p50 with the baseline's: near 1 means an index answers the
filter, near N / baseline means the query reads the table.

    python bench/run_list_scale.py [--runs 100000] [--baseline 1000] [--store postgresql]

Needs PostgreSQL (with psql) on 127.0.0.1 for the PostgreSQL store.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from bench.services import schema  # noqa: E402  (after the path is set)

PAGE = 50
REPEATS = 15
PIPELINES = ("room-scan", "edge-profile", "diamond", "ocr", "detect")
USERS = [f"researcher{i}" for i in range(20)]
RARE_USER = "visitor"
"""Submits one run in 2,000: a filter that an index must find without reading the table."""

FILTERS: dict[str, dict[str, Any]] = {
    "no filter": {},
    "status=failed (2%)": {"status": "failed"},
    "pipeline=ocr (20%)": {"pipeline": "ocr"},
    "pipeline+status": {"pipeline": "ocr", "status": "failed"},
    "environment=prod (10%)": {"environment": "prod"},
    "submitted_by=researcher3 (5%)": {"submitted_by": "researcher3"},
    "submitted_by=visitor (0.05%)": {"submitted_by": RARE_USER},
    "submitted_by=nobody (0 runs)": {"submitted_by": "nobody"},
    "engine=local (0.1%)": {"engine": "local"},
    "created in the last day": {"created_after": "DAY"},
}


def _fill(first: int, count: int, now: datetime) -> None:
    """Add runs ``first`` .. ``first + count - 1``, each with a step, an attempt and 2 metrics,
    spread over the last 90 days."""
    from rainbow.control.models import Attempt, Metric, Run, StepRun

    chance = random.Random(first)
    for start in range(first, first + count, 5_000):
        numbers = range(start, min(start + 5_000, first + count))
        runs = []
        for n in numbers:
            created = now - timedelta(seconds=chance.uniform(0, 90 * 86_400))
            runs.append(
                Run(
                    run_id=f"run-{n:08d}",
                    pipeline=chance.choice(PIPELINES),
                    spec_hash="sha256:" + "0" * 64,
                    spec={},
                    inputs={"photo": f"unit-{n}.png"},
                    unit=f"unit-{n}.png",
                    engine="local" if n % 1_000 == 3 else "celery",
                    environment=chance.choices(["", "staging", "prod"], [6, 3, 1])[0],
                    submitted_by=RARE_USER if n % 2_000 == 7 else chance.choice(USERS),
                    status="failed" if chance.random() < 0.02 else "succeeded",
                    created_at=created,
                    started_at=created,
                    finished_at=created + timedelta(seconds=3),
                )
            )
        Run.objects.bulk_create(runs)
        steps = StepRun.objects.bulk_create(
            StepRun(run=run, step="segment", position=0, status=run.status, attempts=1)
            for run in runs
        )
        attempts = Attempt.objects.bulk_create(
            Attempt(
                step_run=step,
                attempt=1,
                status=step.status,
                module="segment",
                version="1.0",
                started_at=run.created_at,
                finished_at=run.finished_at,
                duration_s=3.0,
            )
            for run, step in zip(runs, steps, strict=True)
        )
        Metric.objects.bulk_create(
            Metric(attempt=attempt, run=run, step="segment", name=name, value=0.5, better=better)
            for run, attempt in zip(runs, attempts, strict=True)
            for name, better in (("floor_iou", "high"), ("segment_ms", "low"))
        )


def _one_page(filters: dict[str, Any], now: datetime) -> float:
    """Seconds to answer one page of the run list, as the API's paginator does."""
    from rainbow.control.persistence.store import last_metrics
    from rainbow.control.services.run_service import RunFilter, list_runs

    if filters.get("created_after") == "DAY":
        filters = {**filters, "created_after": now - timedelta(days=1)}
    began = time.perf_counter()
    runs = list_runs(RunFilter(**filters))
    runs.count()
    page = list(runs[:PAGE])
    last_metrics("default", [run.run_id for run in page])
    return time.perf_counter() - began


def _latencies(now: datetime) -> dict[str, float]:
    """The p50 latency in ms of each filter combination."""
    found = {}
    for label, filters in FILTERS.items():
        _one_page(filters, now)  # warm the caches: the figures compare table sizes, not disks
        found[label] = 1000 * statistics.median(_one_page(filters, now) for _ in range(REPEATS))
    return found


def measure(url: str, runs: int, baseline: int) -> dict[str, Any]:
    """In this process: fill the store at ``url`` to each size and time the filters."""
    from django.db import connection

    from rainbow.control.django_setup import open_store

    open_store(url)
    now = datetime.now(UTC)
    _fill(0, baseline, now)
    if connection.vendor == "postgresql":
        connection.cursor().execute("ANALYZE")
    small = _latencies(now)
    began = time.perf_counter()
    _fill(baseline, runs - baseline, now)
    if connection.vendor == "postgresql":
        connection.cursor().execute("ANALYZE")
    fill_s = time.perf_counter() - began
    return {"small": small, "large": _latencies(now), "fill_s": fill_s}


def _in_child(url: str, runs: int, baseline: int) -> dict[str, Any]:
    """Django is configured once per process: each store is measured in a process of its own."""
    command = [sys.executable, __file__, "--child", url, "--runs", str(runs)]
    done = subprocess.run(
        [*command, "--baseline", str(baseline)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring {url} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.runs, args.baseline)))
        return
    print(f"run list, one page of {PAGE} with its count and metrics; p50 of {REPEATS} in ms")
    for store in args.store or ["sqlite", "postgresql"]:
        if store == "sqlite":
            with tempfile.TemporaryDirectory(prefix="rainbow-bench-") as folder:
                figures = _in_child(f"sqlite:///{folder}/rainbow.sqlite3", args.runs, args.baseline)
        else:
            with schema() as url:
                figures = _in_child(url, args.runs, args.baseline)
        print(f"\n{store}: {args.runs} runs (filled in {figures['fill_s']:.0f} s)")
        print(f"{'filter':32} {args.baseline:>9} {args.runs:>9}  ratio")
        for label in FILTERS:
            small, large = figures["small"][label], figures["large"][label]
            print(f"{label:32} {small:9.1f} {large:9.1f} {large / small:6.1f}")


if __name__ == "__main__":
    main()
