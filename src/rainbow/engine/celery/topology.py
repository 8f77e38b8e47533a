"""Exchanges and queues: one quorum queue per module version, the event queue, dead letters.

Quorum queues because they survive a broker node and count deliveries: a message redelivered
``DELIVERY_LIMIT`` times (its worker died each time) is dead-lettered, never dropped — RabbitMQ
3.10 has no default limit, and without a dead-letter exchange it would drop the message silently.
``at-least-once`` dead-lettering needs ``reject-publish`` overflow. The event queue has the same
guard, parking what it sets aside in ``rainbow.parked`` for an operator to read.
"""

from __future__ import annotations

import functools

from kombu import Exchange, Queue

from rainbow.engine.naming import queue_name

DELIVERY_LIMIT = 5
"""A poison guard, not a retry policy: every return of a message counts (a dead child, a broker
restart, a cold shutdown), so the limit leaves room for incidents; the conductor decides retries."""
EVENTS_DELIVERY_LIMIT = 10
"""An event that stopped the conductor this many times more is parked: the conductor applies a
redelivered event on its own, so only the poison event itself reaches the limit."""
TASKS = Exchange("rainbow.tasks", type="direct", durable=True)
EVENTS_EXCHANGE = Exchange("rainbow.events", type="direct", durable=True)
DEAD_EXCHANGE = Exchange("rainbow.dead", type="fanout", durable=True)
PARKED_EXCHANGE = Exchange("rainbow.parked", type="fanout", durable=True)


def _poison_guarded(limit: int, dead_letters: Exchange) -> dict[str, object]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": limit,
        "x-dead-letter-exchange": dead_letters.name,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


EVENTS = Queue(
    "rainbow.events",
    EVENTS_EXCHANGE,
    routing_key="rainbow.events",
    queue_arguments=_poison_guarded(EVENTS_DELIVERY_LIMIT, PARKED_EXCHANGE),
)
DEAD = Queue(
    "rainbow.dead", DEAD_EXCHANGE, routing_key="", queue_arguments={"x-queue-type": "quorum"}
)
PARKED = Queue(
    "rainbow.parked", PARKED_EXCHANGE, routing_key="", queue_arguments={"x-queue-type": "quorum"}
)
"""Events set aside: no process consumes them; an operator reads them (the conductor counts
them in ``rainbow_parked_events`` and logs each one it parks itself)."""


@functools.lru_cache(maxsize=1024)
def instance_queue(module: str, version: str) -> Queue:
    """The queue of one module version (the same object each time: a conductor publishes to
    it thousands of times a second)."""
    name = queue_name(module, version)
    return Queue(
        name,
        TASKS,
        routing_key=name,
        queue_arguments=_poison_guarded(DELIVERY_LIMIT, DEAD_EXCHANGE),
    )
