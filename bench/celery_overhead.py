"""Throughput and latency of the distributed engine against a raw Celery canvas, same broker.

N diamond work units (6 no-op steps: A → B,C,D → E → F) submitted at once to 2 worker
processes: through Rainbow's celery engine (conductor + PostgreSQL + quorum queues), and through
chain(A, chord(group(B, C, D), E), F) with a Redis result backend, acks_late and prefetch 1, on
quorum queues and once more on classic queues. Prints units/s, per-step overhead and the p50/p95
latency of a single unit submitted alone, with the ratios.

    python bench/celery_overhead.py [--units 300] [--latency-samples 20]

Needs RabbitMQ (with rabbitmqctl), PostgreSQL and Redis on 127.0.0.1 (as on the dev machine).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from bench.services import schema, vhost  # noqa: E402  (after the path is set)

STEPS = 6


@contextmanager
def processes(commands: list[list[str]], env: dict[str, str], logs: Path) -> Iterator[None]:
    running = []
    for index, command in enumerate(commands):
        with open(logs / f"process-{index}.log", "ab") as log:
            running.append(
                subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            )
    try:
        yield
    finally:
        for process in running:
            process.send_signal(signal.SIGKILL)
            process.wait()


Measurement = tuple[float, float, float, dict[str, float]]
"""units/s, p50 s, p95 s, CPU seconds by kind of process."""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


PROCESS_KINDS = {
    "RabbitMQ": "beam.smp",
    "PostgreSQL": "postgres",
    "Redis": "redis-server",
    "conductor": "rainbow conductor",
    "workers": "worker",
}
"""Where the CPU goes, by a fragment of each process's command line (first match wins)."""


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process of interest, by pid: (kind, seconds)."""
    found = {}
    for process in psutil.process_iter():
        try:
            line = " ".join(process.cmdline()) or process.name()
            times = process.cpu_times()
        except psutil.Error:
            continue
        kind = "benchmark" if process.pid == os.getpid() else None
        kind = kind or next((k for k, part in PROCESS_KINDS.items() if part in line), None)
        if kind is not None:
            found[process.pid] = (kind, times.user + times.system)
    return found


def cpu_by_kind(before: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds spent since ``before``, summed by kind (processes alive at both ends)."""
    spent: dict[str, float] = {}
    for pid, (kind, seconds) in cpu_seconds().items():
        if pid in before:
            spent[kind] = spent.get(kind, 0.0) + seconds - before[pid][1]
    return spent


def measure(
    submit_many: Callable[[int], Callable[[], None]], units: int, samples: int
) -> Measurement:
    """Throughput (units/s) of ``units`` at once and the CPU seconds each kind of process spent
    on them, then p50/p95 seconds of one unit alone."""
    submit_many(10)()  # warm up: connections, imports, first-message costs
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    submit_many(units)()
    throughput = units / (time.perf_counter() - started)
    cpu = cpu_by_kind(cpu_before)
    latencies = []
    for _ in range(samples):
        began = time.perf_counter()
        submit_many(1)()
        latencies.append(time.perf_counter() - began)
    p50, p95 = percentiles(latencies)
    return throughput, p50, p95, cpu


def rainbow_engine(units: int, samples: int, logs: Path) -> Measurement:
    from bench import noop_modules
    from rainbow.control.django_setup import open_ledger
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.engine.celery.app import declare_shared_queues, make_app
    from rainbow.engine.celery.client import submit, wait
    from rainbow.engine.workunits import WorkUnit

    with vhost() as broker, schema() as database:
        env = {
            **os.environ,
            "RAINBOW_BROKER_URL": broker,
            "RAINBOW_DATABASE_URL": database,
            "RAINBOW_HOME": str(logs / "rainbow"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        }
        os.environ.update({k: env[k] for k in ("RAINBOW_BROKER_URL", "RAINBOW_DATABASE_URL")})
        store = open_ledger(database)
        app = make_app(broker)
        declare_shared_queues(app)
        spec, _ = compile_pipeline(noop_modules.diamond)
        rainbow = [sys.executable, "-m", "rainbow"]
        worker = [*rainbow, "worker", "bench/noop_modules.py:noop", "--version", "latest"]
        commands = [[*rainbow, "conductor"], [*worker, "--concurrency", "2"]]
        with processes(commands, env, logs):
            time.sleep(8)  # conductor and worker start-up

            def submit_many(count: int) -> Callable[[], None]:
                run_ids = submit(
                    app, store, spec, [WorkUnit(f"u{i}", {"x": i}) for i in range(count)]
                )
                return lambda: _all_succeeded(wait(store, run_ids, poll_s=0.01, timeout_s=600))

            return measure(submit_many, units, samples)


def _all_succeeded(summaries: list[object]) -> None:
    failed = [s for s in summaries if getattr(s, "status", None) != "succeeded"]
    if failed:
        raise SystemExit(f"{len(failed)} runs did not succeed: {failed[0]}")


def raw_canvas(queue_type: str, units: int, samples: int, logs: Path) -> Measurement:
    with vhost() as broker:
        env = {
            **os.environ,
            "RAW_BROKER_URL": broker,
            "RAW_BACKEND_URL": "redis://127.0.0.1:6379/15",
            "RAW_QUEUE_TYPE": queue_type,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        }
        os.environ.update(
            {k: env[k] for k in ("RAW_BROKER_URL", "RAW_BACKEND_URL", "RAW_QUEUE_TYPE")}
        )
        for module in [m for m in sys.modules if m == "bench.raw_canvas"]:
            del sys.modules[module]
        from celery import chain, chord, group

        from bench import raw_canvas

        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.raw_canvas",
            "worker",
            "-c",
            "2",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "warning",
        ]
        with processes([command], env, logs):
            time.sleep(6)

            def submit_many(count: int) -> Callable[[], None]:
                step, join = raw_canvas.step, raw_canvas.join
                results = [
                    chain(
                        step.s(i), chord(group(step.s(), step.s(), step.s()), join.s()), step.s()
                    ).apply_async()
                    for i in range(count)
                ]
                return lambda: [r.get(timeout=600) for r in results] and None

            return measure(submit_many, units, samples)


PARTS: dict[str, Callable[[int, int, Path], Measurement]] = {
    "rainbow (quorum, PostgreSQL)": rainbow_engine,
    "raw canvas (quorum)": functools.partial(raw_canvas, "quorum"),
    "raw canvas (classic)": functools.partial(raw_canvas, "classic"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument("--part", choices=list(PARTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        # Each part runs in its own process: Celery apps and their pools do not mix well.
        logs = Path(tempfile.mkdtemp(prefix="rainbow-bench-"))
        measured = PARTS[args.part](args.units, args.latency_samples, logs)
        shutil.rmtree(logs, ignore_errors=True)  # kept only when the part failed: its logs
        print(json.dumps(measured))
        return
    results = {}
    for name in PARTS:
        command = [
            sys.executable,
            __file__,
            "--part",
            name,
            "--units",
            str(args.units),
            "--latency-samples",
            str(args.latency_samples),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"diamond DAG of {STEPS} no-op steps, {args.units} units at once, 2 worker processes")
    print(f"{'':30} {'units/s':>9} {'ms/step':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for name, (throughput, p50, p95, _) in results.items():
        per_step = 1000 / (throughput * STEPS)
        print(f"{name:30} {throughput:9.1f} {per_step:9.2f} {p50 * 1000:8.1f} {p95 * 1000:8.1f}")
    steps = args.units * STEPS
    kinds = [*PROCESS_KINDS, "benchmark"]
    print("CPU ms per step during the throughput phase (2 cores in all):")
    print(f"{'':30} " + " ".join(f"{kind:>10}" for kind in [*kinds, "total"]))
    for name, (*_, cpu) in results.items():
        row = [1000 * cpu.get(kind, 0.0) / steps for kind in kinds]
        print(f"{name:30} " + " ".join(f"{value:10.2f}" for value in [*row, sum(row)]))
    ours = results["rainbow (quorum, PostgreSQL)"][0]
    quorum, classic = results["raw canvas (quorum)"][0], results["raw canvas (classic)"][0]
    print(f"throughput ratio rainbow / raw canvas, quorum:  {ours / quorum:.2f} (target >= 1.0)")
    print(f"throughput ratio rainbow / raw canvas, classic: {ours / classic:.2f}")


if __name__ == "__main__":
    main()
