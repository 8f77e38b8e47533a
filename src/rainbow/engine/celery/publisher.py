"""The conductor's publisher on Celery: task messages to instance queues, revokes to workers."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from amqp.exceptions import AMQPError
from celery import Celery
from kombu import Connection, Producer
from kombu.exceptions import OperationalError

from rainbow.engine.celery.app import STEP_TASK
from rainbow.engine.celery.topology import instance_queue
from rainbow.engine.ledger import OutboxMessage
from rainbow.engine.naming import HARD_LIMIT_FACTOR, attempt_id

log = logging.getLogger("rainbow.conductor")

CONFIRM_TIMEOUT_S = 30.0
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0)


class Unconfirmed(Exception):
    """The broker refused a message (nack) or did not confirm it in time."""


class CeleryPublisher:
    """Publishes a batch of task messages, then waits once for the broker to confirm them all.

    A quorum queue confirms a message only once its log has it on disk. Waiting for each message
    in turn (kombu's ``confirm_publish``) left the conductor idle for most of a batch; with one
    wait per batch the confirms of a batch overlap. A batch that fails part-way is published
    again whole: a task message may then arrive twice, which the conductor already tolerates
    (a result of an attempt that is no longer current changes nothing).
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._next_tag = 1
        self._unconfirmed: set[int] = set()
        self._nacked = False

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        delays = iter(RETRY_DELAYS_S)
        while True:
            try:
                self._publish_confirmed(messages)
                return
            except (OSError, AMQPError, OperationalError, Unconfirmed) as exc:
                self.close()
                delay = next(delays, RETRY_DELAYS_S[-1])
                log.warning(
                    "publishing %d task messages failed (%s); again in %.1f s",
                    len(messages),
                    exc,
                    delay,
                )
                time.sleep(delay)

    def _publish_confirmed(self, messages: Sequence[OutboxMessage]) -> None:
        producer = self._ready_producer()
        queues = [instance_queue(m.body["module"], m.body["version"]) for m in messages]
        # Declared here, not by workers: with no worker running (scaled to zero) a message to an
        # undeclared queue would be dropped by the exchange. Once per queue and batch: kombu's
        # declare-on-publish binds a copy of the queue for every message.
        for queue in set(queues):
            producer.maybe_declare(queue)
        for message, queue in zip(messages, queues, strict=True):
            task = message.body
            task_id = attempt_id(task["run_id"], task["step"], task["attempt"])
            # Celery's own message (protocol 2), published without ``send_task``'s routing and
            # options machinery, which cost more than the publishing itself.
            headers, properties, body, _ = self.app.amqp.as_task_v2(
                task_id,
                STEP_TASK,
                args=[dict(task)],
                kwargs={},
                time_limit=task["timeout"] * HARD_LIMIT_FACTOR,
                ignore_result=True,
                # Celery would write a bounded repr of the inputs into every message for its
                # logs; the attempt id says which it is.
                argsrepr=task_id,
                kwargsrepr="{}",
            )
            producer.publish(
                body,
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                headers=headers,
                serializer="json",
                delivery_mode=2,
                retry=False,
                **properties,
            )
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
        self._await_confirms()

    def _await_confirms(self) -> None:
        assert self._connection is not None
        deadline = time.monotonic() + CONFIRM_TIMEOUT_S
        while self._unconfirmed and not self._nacked:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unconfirmed(f"no confirm from the broker within {CONFIRM_TIMEOUT_S:.0f} s")
            self._connection.drain_events(timeout=remaining)
        if self._nacked:
            raise Unconfirmed("the broker refused a task message (nack)")

    def _ready_producer(self) -> Producer:
        if self._producer is None:
            # Confirms are awaited per batch here, so not per message by the transport.
            connection = self.app.connection_for_write(transport_options={"confirm_publish": False})
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._connection, self._producer = connection, Producer(channel)
            self._next_tag, self._unconfirmed, self._nacked = 1, set(), False
        return self._producer

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {tag for tag in self._unconfirmed if tag > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: Any) -> None:
        self._nacked = True

    def close(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except (OSError, AMQPError, OperationalError):
                log.debug("closing the publishing connection failed", exc_info=True)

    def revoke(self, attempt_ids: Sequence[str]) -> None:
        try:
            self.app.control.revoke(list(attempt_ids), terminate=True, signal="SIGKILL")
        except Exception:  # revoking is best effort: the state machine already ignores them
            log.warning("could not revoke %s", attempt_ids, exc_info=True)
