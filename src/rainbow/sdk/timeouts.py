"""Nested timeouts inside a step: ``with ctx.timeout("decode", 5): ...``.

One interval timer (SIGALRM) serves the whole stack: it is armed for the earliest deadline of all
open blocks, and the block whose deadline passed raises :class:`rainbow.errors.StepTimeout` in the
module's code, so its traceback shows where the time went. The step's own timeout is the
outermost block; the executor kills the process a grace period later if the module swallows it.
Signals reach only the main thread: elsewhere blocks are measured but not enforced.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from rainbow.errors import StepTimeout


@dataclass
class _Block:
    name: str
    seconds: float
    deadline: float
    enforced: bool
    fired: bool = False


@dataclass
class TimeoutStack:
    """The open timeout blocks of one attempt, and how long each finished block took."""

    timings: dict[str, float] = field(default_factory=dict)
    _open: list[_Block] = field(default_factory=list)
    _previous_handler: Any = None

    @contextmanager
    def block(self, name: str, seconds: float) -> Iterator[None]:
        enforced = threading.current_thread() is threading.main_thread()
        start = time.monotonic()
        entry = _Block(name, seconds, start + seconds, enforced)
        outermost = enforced and not any(b.enforced for b in self._open)
        if outermost:
            self._previous_handler = signal.signal(signal.SIGALRM, self._expired)
        self._open.append(entry)
        if enforced:
            self._arm()
        try:
            yield
        finally:
            if enforced:
                # Disarm before the bookkeeping, so no alarm lands half-way through it.
                signal.setitimer(signal.ITIMER_REAL, 0)
            self._open.remove(entry)
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - start
            if enforced:
                self._arm()
                if outermost:
                    signal.signal(signal.SIGALRM, self._previous_handler)
        if entry.fired:
            # The block's StepTimeout was caught inside it; its budget still ends the block.
            raise StepTimeout(name, seconds)

    def _arm(self) -> None:
        pending = [b.deadline for b in self._open if b.enforced and not b.fired]
        if not pending:
            signal.setitimer(signal.ITIMER_REAL, 0)
            return
        remaining = min(pending) - time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, max(remaining, 1e-4))

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        expired = [b for b in self._open if b.enforced and not b.fired and b.deadline <= now + 1e-3]
        if not expired:
            self._arm()
            return
        # The outermost expired block wins: an inner handler must not swallow the outer budget.
        block = expired[0]
        block.fired = True
        raise StepTimeout(block.name, block.seconds)
