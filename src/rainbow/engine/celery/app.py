"""The Celery application every Rainbow process shares: JSON only, late acks, one at a time."""

from __future__ import annotations

from amqp.exceptions import PreconditionFailed
from celery import Celery
from kombu.exceptions import OperationalError

from rainbow.engine.celery.topology import DEAD, EVENTS, PARKED
from rainbow.errors import PlatformError, UserError

STEP_TASK = "rainbow.step"


def make_app(broker_url: str) -> Celery:
    app = Celery("rainbow", broker=broker_url, set_as_current=False)
    app.conf.update(
        # Pickle is never accepted: a message in any other format is rejected and logged.
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_ignore_result=True,
        # Ack after the attempt reported its result; a dead child's message goes back to the queue.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Quorum queues have no global QoS; Celery must use per-consumer prefetch instead.
        worker_detect_quorum_queues=True,
        task_create_missing_queues=False,
        broker_transport_options={"confirm_publish": True},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_consumer="rainbow.engine.celery.consumer:RainbowConsumer",
        # A step cut off from the broker cannot ack: stop it rather than finish work that reruns.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


def declare_shared_queues(app: Celery) -> None:
    """The event, parked and dead-letter queues, declared by whoever comes first."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=3)
            channel = connection.default_channel
            for queue in (PARKED, EVENTS, DEAD):
                queue(channel).declare()
    except PreconditionFailed as exc:
        # RabbitMQ never changes a queue's arguments in place.
        raise UserError(
            f"RabbitMQ holds the queue {EVENTS.name} with other arguments than this Rainbow "
            f"declares (a delivery limit, and {PARKED.name} for poison events): {exc}",
            hint=f"stop every conductor, let {EVENTS.name} empty, delete it (rabbitmqctl "
            f"delete_queue {EVENTS.name}) and start the conductor again",
        ) from None
    except (OSError, OperationalError) as exc:
        where = app.connection_for_write().as_uri()  # the password masked
        raise PlatformError(
            f"cannot reach the message broker at {where} (RAINBOW_BROKER_URL): {exc}; "
            "start RabbitMQ or point RAINBOW_BROKER_URL at it"
        ) from None
