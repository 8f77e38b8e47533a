"""The broker's cost of one result event: ``rainbow.events`` as a quorum queue or a durable
classic queue, everything else equal.

Each variant gets a fresh vhost. Two publisher threads send persistent JSON events of a result's
size the way workers do (each waits for its publisher confirm before the next), while one
consumer reads them with prefetch 256 and acks each, as the conductor does. Prints the broker's
CPU ms per event (the whole RabbitMQ node, so other users of it count too: variants are
interleaved and repeated), events/s and the p50/p95 confirm wait a worker sees.

    python bench/events_queue.py [--events 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from bench.services import vhost  # noqa: E402  (after the path is set)

PARKED = "rainbow.parked"
VARIANTS: dict[str, dict[str, Any]] = {
    # What engine/celery/topology.py declares today.
    "quorum": {
        "x-queue-type": "quorum",
        "x-delivery-limit": 10,
        "x-dead-letter-exchange": PARKED,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    },
    "classic": {"x-queue-type": "classic", "x-dead-letter-exchange": PARKED},
    "classic v2": {
        "x-queue-type": "classic",
        "x-queue-version": 2,
        "x-dead-letter-exchange": PARKED,
    },
}
BODY = json.dumps(
    {
        "type": "result",
        "result": {
            "run_id": "r" * 32,
            "step": "noop-2",
            "attempt": 1,
            "status": "succeeded",
            "outputs": {"x": 12345},
            "metrics": [],
            "timings": {},
            "duration_s": 0.0001,
            "error": None,
            "finished_at": 1e9,
        },
        "started_at": 1e9,
        "worker": "host:12345",
        "delivery": 1,
    }
)


def broker_cpu() -> float:
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "beam.smp":
            times = process.cpu_times()
            total += times.user + times.system
    return total


def publisher(url: str, count: int, waits: list[float]) -> None:
    from kombu import Connection

    with Connection(url, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        for _ in range(count):
            began = time.perf_counter()
            producer.publish(
                BODY,
                exchange="rainbow.events",
                routing_key="rainbow.events",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
            waits.append(time.perf_counter() - began)


def variant(name: str, events: int) -> dict[str, float]:
    from kombu import Connection, Consumer, Exchange, Queue

    with vhost() as url, Connection(url) as connection:
        channel = connection.channel()
        Exchange(PARKED, type="fanout", durable=True)(channel).declare()
        exchange = Exchange("rainbow.events", type="direct", durable=True)
        queue = Queue(
            "rainbow.events",
            exchange,
            routing_key="rainbow.events",
            queue_arguments=VARIANTS[name],
        )
        queue(channel).declare()
        received = 0

        def on_message(body: Any, message: Any) -> None:
            nonlocal received
            message.ack()
            received += 1

        consumer = Consumer(channel, [queue], callbacks=[on_message], accept=["json"])
        consumer.qos(prefetch_count=256)
        consumer.consume()
        waits: list[float] = []
        threads = [
            threading.Thread(target=publisher, args=(url, events // 2, waits)) for _ in range(2)
        ]
        cpu, began = broker_cpu(), time.perf_counter()
        for thread in threads:
            thread.start()
        while received < 2 * (events // 2):
            try:
                connection.drain_events(timeout=1)
            except TimeoutError:
                if not any(t.is_alive() for t in threads):
                    break
        elapsed, spent = time.perf_counter() - began, broker_cpu() - cpu
        for thread in threads:
            thread.join()
        ordered = sorted(waits)
        return {
            "events_s": received / elapsed,
            "broker_ms": 1000 * spent / received,
            "confirm_p50_ms": 1000 * statistics.median(ordered),
            "confirm_p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name in VARIANTS:  # interleaved: a burst of other load hits every variant
            rows[name].append(variant(name, args.events))
    print(f"{args.events} result-sized events, 2 publishers waiting for each confirm, 1 consumer")
    print(f"load average {psutil.getloadavg()[0]:.2f} (2 cores)")
    print(
        f"{'':12} {'events/s':>9} {'broker CPU ms/event':>20} {'confirm p50 ms':>15} {'p95 ms':>8}"
    )
    for name, measured in rows.items():
        for row in measured:
            print(
                f"{name:12} {row['events_s']:9.0f} {row['broker_ms']:20.3f} "
                f"{row['confirm_p50_ms']:15.2f} {row['confirm_p95_ms']:8.2f}"
            )
    quorum = statistics.median(r["broker_ms"] for r in rows["quorum"])
    for name in list(VARIANTS)[1:]:
        other = statistics.median(r["broker_ms"] for r in rows[name])
        print(f"median broker CPU per event, {name} / quorum: {other / quorum:.2f}")


if __name__ == "__main__":
    main()
