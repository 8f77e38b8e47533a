"""Bench-only hooks loaded by the conductor and worker processes a benchmark starts (it puts this
folder first on their PYTHONPATH). Each does nothing unless its variable is set:

- ``RAINBOW_BENCH_EVENTS_QUEUE=classic``: ``rainbow.events`` is declared as a durable classic
  queue (dead letters still to ``rainbow.parked``; classic queues have no delivery limit) instead
  of the quorum queue ``engine/celery/topology.py`` declares. Every process on the vhost must agree,
  or RabbitMQ refuses the second declaration. ``classic2`` adds ``x-queue-version: 2``.
- ``RAINBOW_BENCH_SQL_STATS=PATH``: every statement Django runs is counted and timed (client
  side, round trip included) by its shape; on SIGUSR1 the process writes the table to PATH.

The engine is left as it is: these patch objects in the process, never a file under src/.
"""

from __future__ import annotations

import os

_QUEUE = os.environ.get("RAINBOW_BENCH_EVENTS_QUEUE", "")
_SQL = os.environ.get("RAINBOW_BENCH_SQL_STATS", "")


def _classic_events(version: str) -> None:
    from rainbow.engine.celery.topology import EVENTS, PARKED_EXCHANGE

    arguments: dict[str, object] = {
        "x-queue-type": "classic",
        "x-dead-letter-exchange": PARKED_EXCHANGE.name,
    }
    if version == "classic2":
        arguments["x-queue-version"] = 2
    EVENTS.queue_arguments = arguments  # type: ignore[attr-defined]  # the one shared object


def _count_sql(path: str) -> None:
    import json
    import re
    import signal
    import time

    from django.db.backends.signals import connection_created

    stats: dict[str, list[float]] = {}
    literals = re.compile(r"'(?:[^']|'')*'|\b\d+\b")
    lists = re.compile(r"\((?:%s, )+%s\)|\((?:\?, )+\?\)")
    savepoints = re.compile(r"SAVEPOINT \"\w+\"")

    def shape(sql: str) -> str:
        return savepoints.sub("SAVEPOINT", lists.sub("(…)", literals.sub("?", sql)))[:160]

    def wrapper(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - began
            entry = stats.setdefault(shape(sql), [0, 0.0])
            entry[0] += len(params) if many and params else 1
            entry[1] += spent

    def on_connection(sender, connection, **_):
        if wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(wrapper)

    connection_created.connect(on_connection, weak=False)

    def dump(*_: object) -> None:
        with open(path, "w") as out:
            json.dump(stats, out)

    signal.signal(signal.SIGUSR1, dump)


if _QUEUE.startswith("classic"):
    _classic_events(_QUEUE)
if _SQL:
    _count_sql(_SQL)
