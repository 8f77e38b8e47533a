"""Where a profiled conductor's time goes, per event: from ``conductor_capacity.py --profile DIR``.

    python bench/profile_report.py DIR --events 4000 [--rate 250]

Reads DIR/pyspy-*.txt (py-spy raw stacks, sampled at --rate Hz while the process was not idle)
and DIR/sql-*.json (each statement shape's count and client-side seconds). Only samples inside
the consume loop count (start-up is left out). Each sample goes to the first bucket below whose
function is on its stack, leaf first for waits: so the table adds up to the active time.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

WAITS = [
    ("waiting for PostgreSQL's answers (psycopg wait, leaf)", "Connection.wait (psycopg/"),
    ("waiting for events (socket read, leaf; idle)", "TCPTransport._read (amqp/"),
]
"""Buckets matched on the innermost frame only: time blocked, not CPU spent in what it calls."""
BUCKETS = [
    ("waiting for broker confirms", ["CeleryPublisher._await_confirms"]),
    ("publish: Celery task message + kombu/amqp", ["Celery.send_task", "_publish_confirmed"]),
    ("read snapshots (locked_many SELECTs, ORM rows)", ["DjangoLedger._locked"]),
    ("write changes (BatchWriter, per-row statements)", ["DjangoStore.write"]),
    ("outbox insert + delete", ["DjangoLedger.add_outbox", "delete_outbox"]),
    ("timers insert + delete", ["DjangoLedger.add_timers", "DjangoLedger.delete_timers"]),
    ("commit / transaction", ["Atomic.__exit__", "_GeneratorContextManager.__exit__"]),
    ("state machine + decisions", ["Conductor._result", "Conductor._start", "Conductor._advance"]),
    ("ticks (timers, sweeps, queue depths)", ["Conductor.tick", "measure_queues", "_caught_up"]),
    ("ack the events", ["Message.ack"]),
    ("receive: decode, shape check", ["drain_events", "on_event"]),
    ("decide/flush glue (metrics observations, lists)", ["_decide_many", "flush"]),
]
JSON = ("json/encoder.py", "json/decoder.py", "json/__init__.py")


def stacks(path: Path) -> list[tuple[list[str], int]]:
    found = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack.strip() and "ConsumerMixin.run" in stack:
            found.append(([re.sub(r":\d+\)$", ")", f) for f in stack.split(";")], int(count)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--events", type=int, required=True, help="events the conductors applied")
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument(
        "--cpu-ms",
        type=float,
        help="the conductor CPU per event measured meanwhile: adds each bucket's share of it "
        "(the waits left out), steadier than py-spy's own clock on a loaded machine",
    )
    args = parser.parse_args()
    per_event = 1000 / args.rate / args.events  # ms per event of one sample
    buckets: collections.Counter[str] = collections.Counter()
    json_samples = total = 0
    for path in sorted(args.folder.glob("pyspy-*.txt")):
        for frames, count in stacks(path):
            total += count
            if any(f.endswith(JSON) or any(j in f for j in JSON) for f in frames):
                json_samples += count
            wait = next((name for name, leaf in WAITS if leaf in frames[-1]), None)
            if wait is not None and any("_await_confirms" in f for f in frames):
                wait = "waiting for broker confirms"
            if wait is not None:
                buckets[wait] += count
                continue
            for name, needles in BUCKETS:
                if any(n in f for f in frames for n in needles):
                    buckets[name] += count
                    break
            else:
                buckets["other"] += count
    waits = {name for name, _ in WAITS} | {"waiting for broker confirms"}
    working = sum(count for name, count in buckets.items() if name not in waits)
    share = (args.cpu_ms or 0.0) / max(working, 1)  # CPU ms per sample while working
    print(f"active (not idle) time: {total * per_event:.2f} ms per event ({total} samples)")
    print(f"  {'':50} {'sampled':>9} {'share':>6} {'≈ CPU ms':>9}")
    for name, count in buckets.most_common():
        cpu = "" if name in waits or not args.cpu_ms else f"{count * share:9.3f}"
        print(f"  {name:50} {count * per_event:6.3f} ms {100 * count / total:5.1f}% {cpu}")
    cpu = f"{json_samples * share:9.3f}" if args.cpu_ms else ""
    label = "of which JSON encode/decode (anywhere)"
    print(f"  {label:50} {json_samples * per_event:6.3f} ms {'':6} {cpu}")
    sql: dict[str, list[float]] = {}
    for path in sorted(args.folder.glob("sql-*.json")):
        for shape, (count, seconds) in json.loads(path.read_text()).items():
            entry = sql.setdefault(shape, [0, 0.0])
            entry[0] += count
            entry[1] += seconds
    if not sql:
        return
    lock = 'SELECT "rainbow_run"."run_id", "rainbow_run"."pipeline"'  # locked_many's first
    batches = sum(c for s, (c, _) in sql.items() if s.startswith(lock))
    count = sum(int(c) for c, _ in sql.values())
    seconds = sum(t for _, t in sql.values())
    print(
        f"SQL: {count / args.events:.2f} statements and {1000 * seconds / args.events:.3f} ms "
        f"(client side, round trip included) per event; {batches} locked batches, "
        f"{args.events / max(batches, 1):.1f} events per batch"
    )
    print(f"  {'count':>7} {'/batch':>7} {'ms/event':>9}  statement")
    for shape, (n, t) in sorted(sql.items(), key=lambda kv: -kv[1][1])[:14]:
        per_batch = n / max(batches, 1)
        print(f"  {n:7.0f} {per_batch:7.1f} {1000 * t / args.events:9.3f}  {shape[:110]}")


if __name__ == "__main__":
    main()
