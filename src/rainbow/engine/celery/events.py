"""Publishing events to the conductor's queue, durably: persistent and confirmed by the broker."""

from __future__ import annotations

from celery import Celery

from rainbow.engine import wire
from rainbow.engine.celery.topology import EVENTS, EVENTS_EXCHANGE

_RETRY_FOREVER = {"max_retries": None, "interval_start": 0.5, "interval_step": 1, "interval_max": 5}


def publish_event(app: Celery, event: wire.Event) -> None:
    """Returns once the broker has the event (publisher confirms); retries through outages."""
    with app.producer_or_acquire() as producer:
        producer.publish(
            wire.encode(event),
            exchange=EVENTS_EXCHANGE,
            routing_key=EVENTS.routing_key,
            declare=[EVENTS],
            serializer="json",
            delivery_mode=2,
            retry=True,
            retry_policy=_RETRY_FOREVER,
        )
