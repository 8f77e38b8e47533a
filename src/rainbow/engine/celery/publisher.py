"""The conductor's publisher on Celery: task messages to instance queues, revokes to workers."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import Celery

from rainbow.engine.celery.app import STEP_TASK
from rainbow.engine.celery.topology import instance_queue
from rainbow.engine.ledger import OutboxMessage
from rainbow.engine.naming import HARD_LIMIT_FACTOR, attempt_id

log = logging.getLogger("rainbow.conductor")


class CeleryPublisher:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        for message in messages:
            task = message.body
            # Declared here, not by workers: with no worker running (scaled to zero) a message
            # to an undeclared queue would be dropped by the exchange.
            queue = instance_queue(task["module"], task["version"])
            self.app.send_task(
                STEP_TASK,
                args=[dict(task)],
                task_id=attempt_id(task["run_id"], task["step"], task["attempt"]),
                queue=queue,
                declare=[queue],
                time_limit=task["timeout"] * HARD_LIMIT_FACTOR,
                retry=True,
                retry_policy={"max_retries": None, "interval_start": 0.5, "interval_max": 5},
            )

    def revoke(self, attempt_ids: Sequence[str]) -> None:
        try:
            self.app.control.revoke(list(attempt_ids), terminate=True, signal="SIGKILL")
        except Exception:  # revoking is best effort: the state machine already ignores them
            log.warning("could not revoke %s", attempt_ids, exc_info=True)
