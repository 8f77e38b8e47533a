"""The worker's message consumer, adjusted for Rainbow's guarantees.

- A message that cannot be decoded (pickle, malformed JSON) is *rejected* to the dead-letter
  exchange instead of Celery's default ack: logged by the worker and by the conductor (which
  reads ``rainbow.dead``), never executed, never dropped without a trace.
- Celery's native delayed delivery (28 extra queues, automatic with quorum queues) is left out:
  Rainbow never delays a message in the broker; the conductor holds retry timers durably.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from celery.worker.consumer import Consumer

from rainbow.observe.facts import MessageRejected, Observer, ignore

log = logging.getLogger("rainbow.worker")


_observe: Observer = ignore


def tell_rejections_to(observe: Observer) -> None:
    """Set by the worker before it starts: Celery builds the consumer itself."""
    global _observe  # noqa: PLW0603 - one consumer per worker process
    _observe = observe


class RainbowConsumer(Consumer):
    class Blueprint(Consumer.Blueprint):
        default_steps: ClassVar[list[str]] = [
            step
            for step in Consumer.Blueprint.default_steps
            if not step.endswith("delayed_delivery:DelayedDelivery")
        ]

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        log.error(
            "rejected an undecodable message (%s, %s): %r",
            message.content_type,
            exc,
            message.body[:200],
        )
        _observe([MessageRejected("worker")])
        message.reject(requeue=False)
