"""Several worker pools driven as one: a pool per place module code runs from.

Local code runs in one pool forked from Rainbow's own interpreter; each released build a run
pins runs in a pool of its own environment, so two versions with conflicting dependencies run
side by side. Tasks go to their module version's pool; one wait covers every pool's workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from multiprocessing.connection import wait
from typing import Any

from rainbow.engine.pool import PoolEvent, TaskKey, WorkerPool
from rainbow.sdk.messages import Task

Place = str | None
"""Where a pool's workers run: a released build's interpreter, or None for Rainbow's own."""


class Pools:
    def __init__(self, pools: Mapping[Place, WorkerPool], route: Callable[[Task], Place]):
        """``route`` names the pool a task runs in."""
        if not pools:
            raise ValueError("no pools to run tasks in")
        self._pools = dict(pools)
        self._route = route

    def start(self) -> None:
        """Start every pool; the caller closes them all, even when one fails to start."""
        for pool in self._pools.values():
            pool.start()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    @property
    def capacity(self) -> int:
        return sum(pool.capacity for pool in self._pools.values())

    def place_of(self, task: Task) -> Place:
        """The pool that runs ``task``."""
        return self._route(task)

    def has_room(self, place: Place) -> bool:
        return self._pools[place].capacity > 0

    def submit(self, task: Task) -> None:
        self._pools[self._route(task)].submit(task)

    def next_deadline(self) -> float | None:
        deadlines = [d for p in self._pools.values() if (d := p.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def abort(self, keys: Iterable[TaskKey]) -> None:
        wanted = set(keys)
        for pool in self._pools.values():
            pool.abort(wanted)

    def poll(self, timeout: float) -> tuple[list[PoolEvent], list[Task]]:
        """Wait up to ``timeout`` s on every pool at once; what happened, and what to requeue."""
        handles: list[Any] = [h for pool in self._pools.values() for h in pool.handles()]
        waiting = any(pool.has_events for pool in self._pools.values())
        ready = set(wait(handles, 0 if waiting else max(timeout, 0)))
        events: list[PoolEvent] = []
        requeue: list[Task] = []
        for pool in self._pools.values():
            its_events, its_requeue = pool.collect(ready)
            events += its_events
            requeue += its_requeue
        return events, requeue
