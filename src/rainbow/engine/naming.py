"""Names every engine and tool agrees on: instance queues and attempt ids."""

from __future__ import annotations

HARD_LIMIT_FACTOR = 1.1
"""A step gets StepTimeout at its timeout; a worker kills one that ignores it 10 % later."""


def queue_name(module: str, version: str) -> str:
    """The instance queue of a module version: ``rainbow.segment.1.2``."""
    return f"rainbow.{module}.{version}"


def attempt_id(run_id: str, step: str, attempt: int) -> str:
    """``run:step:attempt``: the id of one try of one step (also the Celery task id)."""
    return f"{run_id}:{step}:{attempt}"
