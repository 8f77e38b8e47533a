"""The conductor process: consume events and dead letters, tick timers, until stopped."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from kombu import Connection, Consumer, Message, Queue
from kombu.exceptions import ChannelError
from kombu.mixins import ConsumerMixin

from rainbow.engine import wire
from rainbow.engine.celery.topology import (
    DEAD,
    DELIVERY_LIMIT,
    EVENTS,
    PARKED,
    instance_queue,
)
from rainbow.engine.conductor import Conductor
from rainbow.errors import PlatformError, StoreRefused
from rainbow.observe.facts import MessageRejected, ParkedMeasured, QueueMeasured
from rainbow.sdk.messages import Task

log = logging.getLogger("rainbow.conductor")

TICK_S = 1.0
MEASURE_S = 5.0
BATCH = 256
BATCH_WINDOW_S = 0.005
BATCH_MAX_AGE_S = 0.05
"""Events are applied in batches: once BATCH_WINDOW_S passed with no new event, once BATCH
arrived, or once the first waited BATCH_MAX_AGE_S. A backlog arrives one message per loop turn,
so cutting a batch BATCH_WINDOW_S after its *first* event made batches of about ten events and
paid the batch's fixed statements and commits for every ten."""
IDLE_WAIT_S = 0.1
PRUNE_S = 600.0
FORGET_INSTANCES_AFTER = timedelta(days=1)
"""Workers not heard from for this long are forgotten (their module versions stay registered)."""
BACKLOG_WAIT_S = 60.0
"""Longest a starting conductor holds its timers back while it reads the events that waited."""
STORE_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
"""How long the conductor waits before trying a store that is away again, after each failure."""


class ConductorService(ConsumerMixin):
    def __init__(self, app: Celery, conductor: Conductor, *, prefetch: int = BATCH) -> None:
        self.app = app
        self.connection: Connection = app.connection_for_read()
        self.conductor = conductor
        self.prefetch = prefetch
        self._started = time.monotonic()
        self._backlog_read = False
        self._last_tick = 0.0
        self._last_measure = 0.0
        self._last_prune = 0.0
        self._pending: list[tuple[wire.Event, Message]] = []
        self._pending_since = 0.0
        self._last_event_at = 0.0
        self._store_failures = 0
        self._store_retry_at = 0.0

    def get_consumers(self, consumer: Any, channel: Any) -> list[Consumer]:
        events = consumer(
            queues=[EVENTS],
            callbacks=[self.on_event],
            accept=["json"],
            prefetch_count=self.prefetch,
        )
        # One channel serves both consumers and basic.qos applies per channel to the consumers
        # started after it: a smaller prefetch here would throttle the events consumer too.
        dead = consumer(
            queues=[DEAD], callbacks=[self.on_dead], accept=["json"], prefetch_count=self.prefetch
        )
        for each in (events, dead):
            each.on_decode_error = self.on_decode_error
        return [events, dead]

    def consume(  # type: ignore[override]  # kombu's loop, with the wait below
        self, limit: int | None = None, timeout: float | None = None, **kwargs: Any
    ) -> Iterator[None]:
        """Wait for the broker only as long as the work allows: the batch window while events
        are pending, else up to IDLE_WAIT_S (waking every 2 ms while idle cost 40 ms of CPU a
        second). A message that arrives ends the wait at once either way."""
        kwargs.pop("safety_interval", None)
        with self.consumer_context(**kwargs) as (connection, _, _):
            while not self.should_stop:
                self.on_iteration()
                try:
                    connection.drain_events(
                        timeout=BATCH_WINDOW_S if self._pending else IDLE_WAIT_S
                    )
                except TimeoutError:
                    connection.heartbeat_check()
                except OSError:
                    if not self.should_stop:
                        raise
                else:
                    yield

    def on_event(self, body: Any, message: Message) -> None:
        try:
            event = wire.parse(body)
        except wire.Malformed as exc:
            _park(message, f"malformed ({exc})", body)
            return
        if _redelivered(message):
            # It may be what stopped the last conductor: applied alone, a poison event reaches
            # the queue's delivery limit by itself and takes no innocent batch with it.
            self.flush()
            self._pending.append((event, message))
            self.flush()
            return
        now = time.monotonic()
        if not self._pending:
            self._pending_since = now
        self._last_event_at = now
        self._pending.append((event, message))
        if len(self._pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Apply the buffered events, then ack them: recorded before acknowledged.

        The store being down stops the conductor (the events stay unacked and come back to the
        next one). Any other failure is narrowed to the event that caused it: an event whose
        changes the store refuses fails its attempt or its run instead, and one that cannot be
        applied at all is parked, so no single event halts the conductor or another run.
        """
        if time.monotonic() < self._store_retry_at:
            return  # the store is away: the events wait, unacked, and count no delivery
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self.conductor.handle_many([event for event, _ in batch])
        except StoreRefused:
            log.warning("the store refused a batch of %d events; one by one", len(batch))
        except PlatformError as exc:
            self._pending = batch + self._pending
            self._store_away(exc)
            return
        except Exception:
            log.exception("a batch of %d events failed; applying them one by one", len(batch))
        else:
            for _, message in batch:
                message.ack()
            self._store_back()
            return
        for index, (event, message) in enumerate(batch):
            try:
                self._apply_alone(event, message)
            except PlatformError as exc:
                self._pending = batch[index:] + self._pending
                self._store_away(exc)
                return
        self._store_back()

    def _store_away(self, exc: Exception) -> None:
        """Wait for the store in this process rather than exit: a restart would count one more
        delivery against every event this conductor holds, and park healthy ones in the end."""
        delay = STORE_RETRY_S[min(self._store_failures, len(STORE_RETRY_S) - 1)]
        self._store_failures += 1
        self._store_retry_at = time.monotonic() + delay
        log.error(
            "the run store is away (%s); holding %d events unacked, trying again in %.0f s",
            exc,
            len(self._pending),
            delay,
        )
        self.conductor.ledger.reconnect()

    def _store_back(self) -> None:
        if self._store_failures:
            log.warning("the run store answers again")
        self._store_failures = 0

    def _apply_alone(self, event: wire.Event, message: Message) -> None:
        try:
            self.conductor.handle(event)
        except StoreRefused as exc:
            log.error("the store refused an event (%s): %.300r", exc, event)
            if not self.conductor.set_aside(event, str(exc)):
                _park(message, f"unrecordable ({exc})", message.payload)
                return
        except PlatformError:
            raise
        except Exception as exc:
            log.exception("an event cannot be applied")
            _park(message, f"cannot be applied ({type(exc).__name__}: {exc})", message.payload)
            return
        message.ack()

    def on_dead(self, body: Any, message: Message) -> None:
        task = _task_of(body)
        why = (message.headers or {}).get("x-first-death-reason")
        if task is None or why != "delivery_limit":
            # Rejected by a worker (undecodable, not a Rainbow task): kept for the log only.
            log.error("dead letter (%s) that is not a lost Rainbow task: %r", why, body)
        else:
            # The limit counts redeliveries: the first delivery plus DELIVERY_LIMIT more.
            reason = f"worker lost {DELIVERY_LIMIT + 1} times"
            self.flush()  # events that came before this one are applied first
            lost = wire.AttemptDeadLettered(task["run_id"], task["step"], task["attempt"], reason)
            try:
                self.conductor.handle(lost)
            except StoreRefused as exc:
                if not self.conductor.set_aside(lost, str(exc)):
                    log.error("could not record a lost task (%s): %.300r", exc, task)
        message.ack()

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        # Pickle and malformed JSON are refused: logged with their start, never executed.
        log.error(
            "rejected a message in %s (%s): %s", message.content_type, exc, message.body[:200]
        )
        self.conductor.observe([MessageRejected("conductor")])
        message.reject(requeue=False)

    def on_iteration(self) -> None:
        now = time.monotonic()
        if self._pending and (
            now - self._last_event_at >= BATCH_WINDOW_S
            or now - self._pending_since >= BATCH_MAX_AGE_S
        ):
            self.flush()
        if now - self._last_tick >= TICK_S and now >= self._store_retry_at and self._caught_up(now):
            self._last_tick = now
            try:
                while self.conductor.tick():
                    pass
            except PlatformError as exc:
                self._store_away(exc)
        if now < self._store_retry_at:
            return
        try:
            if now - self._last_measure >= MEASURE_S:
                self._last_measure = now
                self.measure_queues()
            if now - self._last_prune >= PRUNE_S:
                self._last_prune = now
                forget_before = datetime.now(UTC) - FORGET_INSTANCES_AFTER
                self.conductor.ledger.prune_instances(forget_before)
        except PlatformError as exc:
            self._store_away(exc)

    def _caught_up(self, now: float) -> bool:
        """Whether the events that waited out the conductor's start are read (or it waited long
        enough): a result that came back in time but waited in the queue while no conductor ran
        must be applied before its run's deadline timer fires."""
        if not self._backlog_read:
            if now - self._started >= BACKLOG_WAIT_S or self._events_waiting() == 0:
                self._backlog_read = True
            # Messages already on their way to this consumer are not counted as waiting:
            # one more tick period lets them arrive.
            self._last_tick = now
            return False
        return True

    def _events_waiting(self) -> int | None:
        try:
            with self.app.connection_for_write() as connection:
                return _ready_messages(connection, EVENTS)
        except OSError:
            return None

    def measure_queues(self) -> None:
        """Queue depth per instance: ready messages (a passive declare counts only those) plus
        the attempts workers hold, from the conductor's own records."""
        ledger = self.conductor.ledger
        running = ledger.running_attempts()
        pins = set(running) | {(i.module, i.version) for i in ledger.instances()}
        facts: list[QueueMeasured | ParkedMeasured] = []
        try:
            with self.app.connection_for_write() as connection:
                for module, version in sorted(pins):
                    ready = _ready_messages(connection, instance_queue(module, version))
                    depth = ready + running.get((module, version), 0)
                    facts.append(QueueMeasured(module, version, depth))
                facts.append(ParkedMeasured(_ready_messages(connection, PARKED)))
        except OSError:
            log.warning("could not measure queue depths", exc_info=True)
        self.conductor.observe(facts)


def _ready_messages(connection: Connection, queue: Queue) -> int:
    try:
        # A passive declare of a missing queue closes its channel: one channel per queue.
        with connection.channel() as channel:
            _, ready, _ = queue(channel).queue_declare(passive=True)
    except ChannelError:
        return 0
    return int(ready)


def _redelivered(message: Message) -> bool:
    # Quorum queues count deliveries in a header; delivery_info is the classic-queue fallback.
    count = (message.headers or {}).get("x-delivery-count")
    return bool(count) or bool(message.delivery_info.get("redelivered"))


def _park(message: Message, why: str, body: Any) -> None:
    """Set an event aside in the parked queue (through the event queue's dead-letter exchange)."""
    log.error("parking an event in %s, %s: %.300r", PARKED.name, why, body)
    message.reject(requeue=False)


def _task_of(body: Any) -> Task | None:
    """The Rainbow task inside a Celery protocol-2 message body ``[args, kwargs, embed]``."""
    if isinstance(body, list) and body and isinstance(body[0], list) and body[0]:
        try:
            return wire.parse_task(body[0][0])
        except wire.Malformed:
            return None
    return None


def run_service(service: ConductorService) -> None:
    """Consume until stopped (reconnecting to the broker as kombu's mixin does)."""
    service.run()
