"""Throughput and latency of the distributed engine against a raw Celery canvas, same broker.

N diamond work units (6 no-op steps: A → B,C,D → E → F) submitted at once to 2 worker
processes: through Rainbow's celery engine (conductor + PostgreSQL + quorum queues), and through
chain(A, chord(group(B, C, D), E), F) with a Redis result backend, acks_late and prefetch 1, on
quorum queues and once more on classic queues. Prints units/s, per-step overhead and the p50/p95
latency of a single unit submitted alone, with the ratios.

    python bench/celery_overhead.py [--units 300] [--latency-samples 20]

Neither side is measured through its poller: while CPU is counted the benchmark asks every
0.5 s with one cheap query (a count of finished runs in PostgreSQL; one MGET of the canvases'
final results in Redis), and takes the end time the system recorded for the last unit (the run's
``finished_at``, the result's ``date_done``), so polling rarely costs no precision. Latencies are
measured the same way (polled every 50 ms, not counted in CPU). CPU is counted for this
benchmark's own processes and their children, the PostgreSQL backends serving them (by client
port), and RabbitMQ and Redis whole (shared: whatever else uses them counts too).

    python bench/celery_overhead.py --events-queue classic --only rainbow

declares ``rainbow.events`` as a durable classic queue instead (bench/hooks), to weigh the
broker's cost of the two; ``--only`` runs the parts whose name contains one of the words.

Needs RabbitMQ (with rabbitmqctl), PostgreSQL and Redis on 127.0.0.1 (as on the dev machine).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

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
    STARTED.extend(process.pid for process in running)
    try:
        yield
    finally:
        STARTED.clear()
        for process in running:
            process.send_signal(signal.SIGKILL)
            process.wait()


STARTED: list[int] = []
"""The processes this benchmark started: only they, their children and the PostgreSQL backends
serving them are counted (other users of the machine run conductors and workers too)."""


Measurement = tuple[float, float, float, dict[str, float]]
"""units/s, p50 s, p95 s, CPU seconds by kind of process."""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


PROCESS_KINDS = {
    "conductor": "rainbow conductor",
    "workers": "worker",
}
"""Which of the benchmark's own processes is which, by a fragment of its command line."""
SHARED = {"RabbitMQ": "beam.smp", "Redis": "redis-server"}
"""Servers counted whole: their CPU includes whatever else uses them meanwhile."""


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process of interest, by pid: (kind, seconds).

    Ours (this process, the ones it started and their children), the PostgreSQL backends
    serving them (matched by client port), and the shared servers, RabbitMQ and Redis."""
    me = psutil.Process()
    ours = {me.pid: me}
    for pid in STARTED:
        try:
            root = psutil.Process(pid)
            ours.update({p.pid: p for p in [root, *root.children(recursive=True)]})
        except psutil.Error:
            continue
    ports = set()
    for process in ours.values():
        try:
            connections = process.net_connections("tcp")
        except psutil.Error:
            continue
        ports |= {c.laddr.port for c in connections if c.raddr and c.raddr.port == 5432}
    found = {}
    for process in psutil.process_iter():
        try:
            line = " ".join(process.cmdline()) or process.name()
            times = process.cpu_times()
        except psutil.Error:
            continue
        kind = None
        if process.pid == me.pid:
            kind = "benchmark"
        elif process.pid in ours:
            kind = next((k for k, part in PROCESS_KINDS.items() if part in line), "benchmark")
        elif line.startswith("postgres:") and any(f"({port})" in line for port in ports):
            kind = "PostgreSQL"
        else:
            kind = next((k for k, part in SHARED.items() if part in line), None)
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


THROUGHPUT_POLL_S = 0.5
"""How often the benchmark asks whether the units are done while CPU is counted: one cheap
query (a count in PostgreSQL, one MGET in Redis), so the poller costs the system next to
nothing; the end time is the last unit's recorded finish, not when the poller noticed."""
LATENCY_POLL_S = 0.05

Done = Callable[[float], float]
"""Waits, polling every so many seconds, until the submitted units are done; returns the epoch
seconds at which the last of them finished, as the system recorded it."""


def measure(submit_many: Callable[[int], Done], units: int, samples: int) -> Measurement:
    """Throughput (units/s) of ``units`` at once and the CPU seconds each kind of process spent
    on them, then p50/p95 seconds of one unit alone. Both sides wait the same way: a rare cheap
    poll, and the time the system itself recorded for the last finish."""
    submit_many(10)(LATENCY_POLL_S)  # warm up: connections, imports, first-message costs
    cpu_before = cpu_seconds()
    started = time.time()
    finished = submit_many(units)(THROUGHPUT_POLL_S)
    cpu = cpu_by_kind(cpu_before)
    throughput = units / (finished - started)
    latencies = []
    for _ in range(samples):
        began = time.time()
        latencies.append(submit_many(1)(LATENCY_POLL_S) - began)
    p50, p95 = percentiles(latencies)
    return throughput, p50, p95, cpu


def rainbow_engine(units: int, samples: int, logs: Path) -> Measurement:
    from bench import noop_modules
    from rainbow.control.django_setup import open_ledger
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.engine.celery.app import declare_shared_queues, make_app
    from rainbow.engine.celery.client import submit
    from rainbow.engine.workunits import WorkUnit

    hooks = ROOT / "bench" / "hooks"  # RAINBOW_BENCH_EVENTS_QUEUE=classic: see sitecustomize
    with vhost() as broker, schema() as database:
        env = {
            **os.environ,
            "RAINBOW_BROKER_URL": broker,
            "RAINBOW_DATABASE_URL": database,
            "RAINBOW_HOME": str(logs / "rainbow"),
            "PYTHONPATH": os.pathsep.join([str(hooks), str(ROOT), str(ROOT / "src")]),
        }
        os.environ.update({k: env[k] for k in ("RAINBOW_BROKER_URL", "RAINBOW_DATABASE_URL")})
        runpy.run_path(str(hooks / "sitecustomize.py"))  # the same events queue in this process
        store = open_ledger(database)
        app = make_app(broker)
        declare_shared_queues(app)
        spec, _ = compile_pipeline(noop_modules.diamond)
        rainbow = [sys.executable, "-m", "rainbow"]
        worker = [*rainbow, "worker", "bench/noop_modules.py:noop", "--version", "latest"]
        commands = [[*rainbow, "conductor"], [*worker, "--concurrency", "2"]]
        with processes(commands, env, logs):
            time.sleep(8)  # conductor and worker start-up

            def submit_many(count: int) -> Done:
                run_ids = submit(
                    app, store, spec, [WorkUnit(f"u{i}", {"x": i}) for i in range(count)]
                )
                return functools.partial(_last_finish, run_ids)

            return measure(submit_many, units, samples)


def _last_finish(run_ids: list[str], poll_s: float) -> float:
    """Count finished runs in the (fresh) schema every ``poll_s``; then check these succeeded
    and return when the last one finished."""
    from django.db.models import Max

    from rainbow.control.models import Run
    from rainbow.engine.machine import FINISHED_RUN

    ended = Run.objects.filter(status__in=FINISHED_RUN)
    target = Run.objects.count()  # every run in the schema, earlier phases' too
    give_up = time.monotonic() + 600
    while ended.count() < target:
        if time.monotonic() > give_up:
            raise SystemExit("runs did not finish within 600 s")
        time.sleep(poll_s)
    ours = Run.objects.filter(run_id__in=run_ids)
    failed = ours.exclude(status="succeeded").count()
    if failed:
        raise SystemExit(f"{failed} runs did not succeed")
    return float(ours.aggregate(last=Max("finished_at"))["last"].timestamp())


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

            def submit_many(count: int) -> Done:
                step, join = raw_canvas.step, raw_canvas.join
                results = [
                    chain(
                        step.s(i), chord(group(step.s(), step.s(), step.s()), join.s()), step.s()
                    ).apply_async()
                    for i in range(count)
                ]
                return functools.partial(_last_done, raw_canvas.app.backend, results)

            return measure(submit_many, units, samples)


def _last_done(backend: Any, results: list[Any], poll_s: float) -> float:
    """One MGET of the units' final results every ``poll_s`` until all are stored; then check
    they succeeded and return when the last one was stored (``date_done``)."""
    from datetime import datetime

    keys = [backend.get_key_for_task(result.id) for result in results]
    give_up = time.monotonic() + 600
    while True:
        stored = [json.loads(raw) for raw in backend.client.mget(keys) if raw is not None]
        if len(stored) == len(keys):
            break
        if time.monotonic() > give_up:
            raise SystemExit("canvases did not finish within 600 s")
        time.sleep(poll_s)
    failed = [meta for meta in stored if meta["status"] != "SUCCESS"]
    if failed:
        raise SystemExit(f"{len(failed)} canvases did not succeed: {failed[0]}")
    moments = [datetime.fromisoformat(meta["date_done"]) for meta in stored]
    return max(m if m.tzinfo else m.replace(tzinfo=UTC) for m in moments).timestamp()


PARTS: dict[str, Callable[[int, int, Path], Measurement]] = {
    "rainbow (quorum, PostgreSQL)": rainbow_engine,
    "raw canvas (quorum)": functools.partial(raw_canvas, "quorum"),
    "raw canvas (classic)": functools.partial(raw_canvas, "classic"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument(
        "--events-queue",
        choices=["quorum", "classic", "classic2"],
        default="quorum",
        help="rainbow.events as the quorum queue Rainbow declares, or a durable classic one "
        "(bench/hooks; classic2: queue version 2), to weigh the broker's cost",
    )
    parser.add_argument("--only", help="comma-separated part names to run (default: all)")
    parser.add_argument("--part", choices=list(PARTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["RAINBOW_BENCH_EVENTS_QUEUE"] = args.events_queue
    if args.part:
        # Each part runs in its own process: Celery apps and their pools do not mix well.
        logs = Path(tempfile.mkdtemp(prefix="rainbow-bench-"))
        measured = PARTS[args.part](args.units, args.latency_samples, logs)
        shutil.rmtree(logs, ignore_errors=True)  # kept only when the part failed: its logs
        print(json.dumps(measured))
        return
    results = {}
    chosen = [n for n in PARTS if not args.only or any(o in n for o in args.only.split(","))]
    for name in chosen:
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
    label = {"rainbow (quorum, PostgreSQL)": f"rainbow ({args.events_queue} events, PG)"}
    if args.events_queue == "quorum":
        label = {}
    for name, (throughput, p50, p95, _) in results.items():
        per_step = 1000 / (throughput * STEPS)
        name = label.get(name, name)  # noqa: PLW2901
        print(f"{name:30} {throughput:9.1f} {per_step:9.2f} {p50 * 1000:8.1f} {p95 * 1000:8.1f}")
    steps = args.units * STEPS
    kinds = ["RabbitMQ", "PostgreSQL", "Redis", "conductor", "workers", "benchmark"]
    print("CPU ms per step during the throughput phase (2 cores in all; RabbitMQ and Redis are")
    print("the whole server, PostgreSQL the backends serving this benchmark's processes):")
    print(f"{'':30} " + " ".join(f"{kind:>10}" for kind in [*kinds, "total"]))
    for name, (*_, cpu) in results.items():
        row = [1000 * cpu.get(kind, 0.0) / steps for kind in kinds]
        name = label.get(name, name)  # noqa: PLW2901
        print(f"{name:30} " + " ".join(f"{value:10.2f}" for value in [*row, sum(row)]))
    print(f"events queue: {args.events_queue}; load average {os.getloadavg()[0]:.2f} (2 cores)")
    if len(results) < len(PARTS):
        return
    ours = results["rainbow (quorum, PostgreSQL)"][0]
    quorum, classic = results["raw canvas (quorum)"][0], results["raw canvas (classic)"][0]
    print(f"throughput ratio rainbow / raw canvas, quorum:  {ours / quorum:.2f} (target >= 1.0)")
    print(f"throughput ratio rainbow / raw canvas, classic: {ours / classic:.2f}")


if __name__ == "__main__":
    main()
