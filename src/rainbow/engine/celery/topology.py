"""Exchanges and queues: one quorum queue per module version, the event queue, dead letters.

Quorum queues because they survive a broker node and count deliveries: a message redelivered
``DELIVERY_LIMIT`` times (its worker died each time) is dead-lettered, never dropped — RabbitMQ
3.10 has no default limit, and without a dead-letter exchange it would drop the message silently.
``at-least-once`` dead-lettering needs ``reject-publish`` overflow.
"""

from __future__ import annotations

from kombu import Exchange, Queue

from rainbow.engine.naming import queue_name

DELIVERY_LIMIT = 5
"""A poison guard, not a retry policy: every return of a message counts (a dead child, a broker
restart, a cold shutdown), so the limit leaves room for incidents; the conductor decides retries."""
TASKS = Exchange("rainbow.tasks", type="direct", durable=True)
EVENTS_EXCHANGE = Exchange("rainbow.events", type="direct", durable=True)
DEAD_EXCHANGE = Exchange("rainbow.dead", type="fanout", durable=True)

EVENTS = Queue(
    "rainbow.events",
    EVENTS_EXCHANGE,
    routing_key="rainbow.events",
    queue_arguments={"x-queue-type": "quorum"},
)
DEAD = Queue(
    "rainbow.dead", DEAD_EXCHANGE, routing_key="", queue_arguments={"x-queue-type": "quorum"}
)


def instance_queue(module: str, version: str) -> Queue:
    name = queue_name(module, version)
    return Queue(
        name,
        TASKS,
        routing_key=name,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_EXCHANGE.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )
