"""The distributed engine on Celery and RabbitMQ: the only place that imports celery or kombu.

One instance queue per module version, a worker task that runs one attempt and reports to the
event queue, and the conductor's consumer that drives runs from those events.
"""
