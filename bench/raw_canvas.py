"""The baseline: the diamond as a plain Celery canvas, chain(A, chord(group(B, C, D), E), F).

Redis result backend (a chord needs one), acks_late, prefetch 1, JSON; the queue type (quorum or
classic) comes from RAW_QUEUE_TYPE. Started as a worker by bench/celery_overhead.py.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

QUEUE_TYPE = os.environ.get("RAW_QUEUE_TYPE", "quorum")
QUEUE = Queue(
    f"raw.{QUEUE_TYPE}",
    Exchange("raw", type="direct"),
    routing_key=f"raw.{QUEUE_TYPE}",
    queue_arguments={"x-queue-type": QUEUE_TYPE},
)

app = Celery("raw", broker=os.environ["RAW_BROKER_URL"], backend=os.environ["RAW_BACKEND_URL"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_queues=[QUEUE],
    task_default_queue=QUEUE.name,
    task_default_exchange=QUEUE.exchange.name,
    task_default_routing_key=QUEUE.routing_key,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="raw.step")
def step(x: int = 0, y: int = 0) -> int:
    return x + y


@app.task(name="raw.join")
def join(values: list[int]) -> int:
    return sum(values)
