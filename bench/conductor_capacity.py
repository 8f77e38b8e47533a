"""What one conductor, then two, can apply: step events per second and CPU ms per event.

No worker runs. N runs of a three-step chain (noop a → b → c) are recorded pending in a fresh
PostgreSQL schema, then the events a conductor receives are published in waves on a fresh vhost,
as the instant fake worker of every task the conductor dispatched:

    wave 0: one ``start`` per run            -> the conductor dispatches step a (N task messages)
    wave 1: one ``result`` of step a per run -> it records the attempt and dispatches step b
    wave 2: one ``result`` of step b per run -> ... step c
    wave 3: one ``result`` of step c per run -> it records the attempt and finishes the run

A wave is published only once the one before is applied (the task messages it dispatched are in
the instance queue, counted with a passive declare every 20 ms; the last wave waits for every run
to have succeeded, one count query every 50 ms), so with two conductors no result ever reaches a
run before its dispatch. The task messages stay in the instance queue, unconsumed. CPU is read
per process (psutil) around the waves: the conductor(s), the PostgreSQL backends serving them,
and RabbitMQ (the whole node: other users of the broker count too). The benchmark's own
publishing is not counted. A "step event" is one result: it records an attempt and dispatches
the next step or finishes the run, what a worker's result costs the conductor in real use.

    python bench/conductor_capacity.py [--runs 1000] [--repeats 2]
        [--events-queue quorum|classic|classic2] [--profile DIR]

``--events-queue classic`` declares ``rainbow.events`` as a durable classic queue (publisher
confirms as always) through bench/hooks, to weigh the broker's cost of the two. ``--profile
DIR`` runs the conductors under py-spy (``pip install py-spy``; 100 samples/s) and counts and
times their SQL statements; read it with
``python bench/profile_report.py DIR --events 4000 --cpu-ms <conductor ms>``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from bench.services import schema, vhost  # noqa: E402  (after the path is set)

TARGET_CPU_MS = 0.5
TARGET_SCALING = 1.6
POLL_S = 0.02


def wire_event(
    kind: str, run_id: str, step: str = "", outputs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The one place this benchmark writes wire messages: a ``start`` event as ``rainbow
    submit`` sends it, or a succeeded first attempt's ``result`` as a worker sends it."""
    from rainbow.engine import wire
    from rainbow.sdk.messages import Result

    if kind == "start":
        return wire.encode(wire.StartRun(run_id))
    now = time.time()
    result = Result(
        run_id=run_id,
        step=step,
        attempt=1,
        status="succeeded",
        outputs=dict(outputs or {}),
        metrics=[],
        timings={},
        duration_s=0.0001,
        error=None,
        finished_at=now,
    )
    return wire.encode(wire.AttemptReported(result, now - 0.0001, "bench:1", 1))


class Publisher:
    """Publishes bodies to the events exchange, persistent, waiting once for all confirms."""

    def __init__(self, broker_url: str) -> None:
        from kombu import Connection

        self.connection = Connection(broker_url)
        self.channel = self.connection.channel()
        self.channel.confirm_select()
        self._sent = self._confirmed = 0
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._confirmed = tag if multiple else self._confirmed + 1

    def _on_nack(self, tag: int, multiple: bool) -> None:
        raise SystemExit("the broker refused an event (nack)")

    def publish(self, bodies: Sequence[Mapping[str, Any]]) -> None:
        from rainbow.engine.celery.topology import EVENTS, EVENTS_EXCHANGE

        for body in bodies:
            message = self.channel.prepare_message(
                json.dumps(body),
                content_type="application/json",
                content_encoding="utf-8",
                properties={"delivery_mode": 2},
            )
            self.channel.basic_publish(
                message, exchange=EVENTS_EXCHANGE.name, routing_key=EVENTS.routing_key
            )
            self._sent += 1
        while self._confirmed < self._sent:
            self.connection.drain_events(timeout=30)

    def ready(self, queue: Any) -> tuple[int, int]:
        """Ready messages and consumers of ``queue`` (a passive declare)."""
        _, ready, consumers = queue(self.channel).queue_declare(passive=True)
        return int(ready), int(consumers)


@contextmanager
def conductors(
    count: int, env: dict[str, str], logs: Path, profile: Path | None
) -> Iterator[list[psutil.Process]]:
    running = []
    spy = shutil.which("py-spy") or (
        "/tmp/pyspy/bin/py-spy" if Path("/tmp/pyspy/bin/py-spy").exists() else None
    )
    for index in range(count):
        command = [sys.executable, "-m", "rainbow", "conductor"]
        own = dict(env)
        if profile is not None:
            own["RAINBOW_BENCH_SQL_STATS"] = str(profile / f"sql-{count}-{index}.json")
            if spy:
                out = profile / f"pyspy-{count}-{index}.txt"
                command = [spy, "record", "--nonblocking", "-r", "100", "-f", "raw",
                           "-o", str(out), "--", *command]  # fmt: skip
        with open(logs / f"conductor-{index}.log", "ab") as log:
            running.append(
                subprocess.Popen(command, env=own, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            )
    processes: list[psutil.Process] = []
    try:
        for popen in running:
            process = psutil.Process(popen.pid)
            if profile is not None and spy:
                while not process.children():
                    time.sleep(0.05)
                process = process.children()[0]
            processes.append(process)
        yield processes
    finally:
        for process, popen in zip(processes, running, strict=False):
            if profile is not None:
                process.send_signal(signal.SIGUSR1)  # the SQL table
                time.sleep(0.5)
                process.send_signal(signal.SIGINT)  # py-spy writes its file when its child ends
                with contextlib.suppress(subprocess.TimeoutExpired):
                    popen.wait(timeout=20)
            popen.send_signal(signal.SIGKILL)
            popen.wait()


def backends(processes: Sequence[psutil.Process]) -> list[psutil.Process]:
    """The PostgreSQL backends serving these processes (matched by client port)."""
    ports = {
        c.laddr.port
        for p in processes
        for c in p.net_connections("tcp")
        if c.raddr and c.raddr.port == 5432
    }
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if line.startswith("postgres:") and any(f"({port})" in line for port in ports):
            found.append(process)
    return found


def broker() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "beam.smp"]


def cpu(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def part(count: int, runs: int, events_queue: str, profile: Path | None) -> dict[str, Any]:  # noqa: PLR0915
    from bench import noop_modules
    from rainbow.engine.celery.topology import EVENTS, instance_queue

    logs = Path(tempfile.mkdtemp(prefix="rainbow-capacity-"))
    with vhost() as broker_url, schema() as database:
        hooks = str(ROOT / "bench" / "hooks")
        env = {
            **os.environ,
            "RAINBOW_BROKER_URL": broker_url,
            "RAINBOW_DATABASE_URL": database,
            "RAINBOW_HOME": str(logs / "rainbow"),
            "RAINBOW_BENCH_EVENTS_QUEUE": events_queue,
            "PYTHONPATH": os.pathsep.join([hooks, str(ROOT), str(ROOT / "src")]),
        }
        os.environ.update({k: env[k] for k in ("RAINBOW_BROKER_URL", "RAINBOW_DATABASE_URL")})
        os.environ["RAINBOW_BENCH_EVENTS_QUEUE"] = events_queue
        runpy.run_path(str(Path(hooks) / "sitecustomize.py"))  # the same events queue here

        from rainbow.control.django_setup import open_ledger
        from rainbow.dsl.compiler import compile_pipeline
        from rainbow.engine.celery.app import declare_shared_queues, make_app
        from rainbow.engine.submission import new_runs
        from rainbow.engine.workunits import WorkUnit

        store = open_ledger(database)
        declare_shared_queues(make_app(broker_url))
        spec, _ = compile_pipeline(noop_modules.chain)
        steps = [step.id for step in spec.steps]
        tasks = instance_queue("noop", "latest")
        publisher = Publisher(broker_url)
        tasks(publisher.channel).declare()  # as the conductor does before publishing to it
        with conductors(count, env, logs, profile) as procs:
            give_up = time.monotonic() + 60
            while publisher.ready(EVENTS)[1] < count:
                if time.monotonic() > give_up:
                    raise SystemExit(f"conductors never consumed; see {logs}")
                time.sleep(0.1)
            time.sleep(3)  # first ticks, imports, connections
            pg = backends(procs)
            idle_before, idle_at = cpu(procs), time.monotonic()
            time.sleep(2)
            idle = (cpu(procs) - idle_before) / (time.monotonic() - idle_at)
            records = new_runs(
                spec, [WorkUnit(f"u{i}", {"x": i}) for i in range(runs)], engine="celery"
            )
            store.write(records)
            ids = [r.run_id for r in records]
            waves = [[wire_event("start", run_id) for run_id in ids]]
            waves += [
                [wire_event("result", r, s, {"x": i}) for i, r in enumerate(ids)] for s in steps
            ]
            rows = []
            for index, bodies in enumerate(waves):
                before = (cpu(procs), cpu(pg), cpu(broker()), time.perf_counter())
                publisher.publish(bodies)
                published = time.perf_counter() - before[3]
                if index < len(waves) - 1:
                    while publisher.ready(tasks)[0] < runs * (index + 1):
                        time.sleep(POLL_S)
                else:
                    while _succeeded(store, ids) < runs:
                        time.sleep(0.05)
                after = (cpu(procs), cpu(pg), cpu(broker()), time.perf_counter())
                elapsed = after[3] - before[3]
                rows.append(
                    {
                        "wave": "start" if index == 0 else f"result {steps[index - 1]}",
                        "events": len(bodies),
                        "elapsed": elapsed,
                        "published_s": published,
                        "conductor": after[0] - before[0],
                        "postgres": after[1] - before[1],
                        "broker": after[2] - before[2],
                    }
                )
            ready = publisher.ready(tasks)[0]
            if ready != runs * len(steps):
                print(
                    f"warning: {ready} task messages for {runs * len(steps)} dispatches",
                    file=sys.stderr,
                )
    shutil.rmtree(logs, ignore_errors=True)
    return {
        "conductors": count,
        "idle_cpu_per_s": idle,
        "waves": rows,
        "postgres_backends": len(pg),
    }


def _succeeded(store: Any, ids: list[str]) -> int:
    from rainbow.control import models

    return models.Run.objects.filter(status="succeeded").count()


def summary(measured: dict[str, Any]) -> dict[str, float]:
    """Step events (results) per second and CPU ms per step event, over the three result
    waves; the start wave separately."""
    results = [w for w in measured["waves"] if w["wave"] != "start"]
    events = sum(w["events"] for w in results)
    elapsed = sum(w["elapsed"] for w in results)
    start = measured["waves"][0]
    return {
        "events_s": events / elapsed,
        "conductor_ms": 1000 * sum(w["conductor"] for w in results) / events,
        "postgres_ms": 1000 * sum(w["postgres"] for w in results) / events,
        "broker_ms": 1000 * sum(w["broker"] for w in results) / events,
        "start_events_s": start["events"] / start["elapsed"],
        "start_conductor_ms": 1000 * start["conductor"] / start["events"],
        "idle_ms_s": 1000 * measured["idle_cpu_per_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--events-queue", choices=["quorum", "classic", "classic2"], default="quorum"
    )
    parser.add_argument("--conductors", default="1,2", help="how many at once, for each part")
    parser.add_argument(
        "--profile", type=Path, help="py-spy stacks and SQL counts into this folder"
    )
    parser.add_argument("--part", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        # One part per process: Django is configured once per process, for one schema.
        measured = part(args.part, args.runs, args.events_queue, args.profile)
        print(json.dumps(measured))
        return
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    counts = [int(c) for c in args.conductors.split(",")]
    rows: dict[int, list[dict[str, float]]] = {c: [] for c in counts}
    for repeat in range(args.repeats):
        for count in counts:
            command = [sys.executable, __file__, "--part", str(count), "--runs", str(args.runs),
                       "--events-queue", args.events_queue]  # fmt: skip
            if args.profile:
                command += ["--profile", str(args.profile)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-3000:])
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            rows[count].append(summary(measured))
            print(
                f"# repeat {repeat + 1}, {count} conductor(s): {json.dumps(measured)}",
                file=sys.stderr,
            )
    load = os.getloadavg()
    print(
        f"chain of 3 no-op steps, {args.runs} runs, no workers, events queue: {args.events_queue}"
    )
    print(f"load average at the end (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    header = ["results/s", "cond ms", "PG ms", "broker ms", "starts/s", "start ms", "idle ms/s"]
    print(f"{'':16} " + " ".join(f"{h:>10}" for h in header) + "   (ms = CPU per event)")
    keys = ["events_s", "conductor_ms", "postgres_ms", "broker_ms", "start_events_s",
            "start_conductor_ms", "idle_ms_s"]  # fmt: skip
    for count in counts:
        for index, row in enumerate(rows[count]):
            name = f"{count} conductor{'s' if count > 1 else ''} #{index + 1}"
            print(f"{name:16} " + " ".join(f"{row[k]:10.2f}" for k in keys))
    best = {c: max(r["events_s"] for r in rows[c]) for c in counts}
    cost = {c: min(r["conductor_ms"] for r in rows[c]) for c in counts}
    for count in counts:
        print(
            f"{count} conductor(s): {best[count]:.0f} step events/s (best), "
            f"conductor CPU {cost[count]:.2f} ms per step event (best; target <= {TARGET_CPU_MS})"
        )
    if 1 in best and 2 in best:
        ratios = [b["events_s"] / a["events_s"] for a, b in zip(rows[1], rows[2], strict=False)]
        shown = ", ".join(f"{r:.2f}" for r in ratios)
        print(
            f"two conductors / one: {best[2] / best[1]:.2f} "
            f"(per repeat: {shown}; target >= {TARGET_SCALING})"
        )


if __name__ == "__main__":
    main()
