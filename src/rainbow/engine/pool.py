"""A process pool that knows which task each process runs, so it can kill one and see one die.

``concurrent.futures.ProcessPoolExecutor`` cannot do either: a dead child breaks the whole pool
and a running task cannot be stopped. Here each worker process has its own pipe and a short queue
of tasks (``depth`` deep, so it never idles between tasks); the head of the queue is running.
A worker that dies is replaced; its head task is reported lost with the signal, and the tasks
queued behind it, which never started, are handed back to run elsewhere.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from rainbow.engine.worker_process import worker_main
from rainbow.sdk.messages import Result, Task

TaskKey = tuple[str, str, int]


def key_of(task: Task | Result) -> TaskKey:
    return (task["run_id"], task["step"], task["attempt"])


@dataclass(frozen=True)
class Finished:
    result: Result


@dataclass(frozen=True)
class Lost:
    """The process running ``task`` died (``signal`` is set when a signal killed it)."""

    task: Task
    exit_code: int | None
    signal: int | None
    after_s: float


@dataclass(frozen=True)
class Killed:
    """The pool killed the process running ``task``: it outlived its hard deadline."""

    task: Task
    after_s: float


PoolEvent = Finished | Lost | Killed


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    queue: deque[Task] = field(default_factory=deque)
    head_started: float = 0.0


class WorkerPool:
    def __init__(
        self,
        size: int,
        *,
        refs: dict[str, dict[str, Any]],
        env: dict[str, str],
        log_file: str,
        depth: int = 2,
        grace: float = 1.0,
    ) -> None:
        self.size = size
        self.depth = depth
        self.grace = grace
        self._refs = refs
        self._env = env
        self._log_file = log_file
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["rainbow.engine.worker_process"])
        self._workers: list[_Worker] = []
        self._discarded: set[TaskKey] = set()

    def start(self) -> None:
        self._workers = [self._spawn() for _ in range(self.size)]

    def _spawn(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=worker_main,
            args=(child, self._refs, self._env, self._log_file),
            daemon=True,
            name="rainbow-worker",
        )
        process.start()
        child.close()
        return _Worker(process=process, conn=parent)

    @property
    def capacity(self) -> int:
        return sum(self.depth - len(w.queue) for w in self._workers)

    @property
    def busy(self) -> bool:
        return any(w.queue for w in self._workers)

    def submit(self, task: Task) -> None:
        worker = min(self._workers, key=lambda w: len(w.queue))
        if len(worker.queue) >= self.depth:
            raise RuntimeError("pool is full; check capacity before submitting")
        if not worker.queue:
            worker.head_started = time.monotonic()
        worker.queue.append(task)
        worker.conn.send_bytes(json.dumps(task).encode())

    def next_deadline(self) -> float | None:
        deadlines = [self._hard_deadline(w) for w in self._workers if w.queue]
        return min(deadlines) if deadlines else None

    def _hard_deadline(self, worker: _Worker) -> float:
        # The module gets its own timeout (SIGALRM) first; this only catches code that ignores it.
        timeout = worker.queue[0]["timeout"]
        return worker.head_started + timeout + self.grace + 0.1 * timeout

    def poll(self, timeout: float) -> tuple[list[PoolEvent], list[Task]]:
        """Wait up to ``timeout`` s; return what happened and tasks to resubmit."""
        events: list[PoolEvent] = []
        requeue: list[Task] = []
        by_handle: dict[Any, _Worker] = {}
        for worker in self._workers:
            if worker.queue:
                by_handle[worker.conn] = worker
                by_handle[worker.process.sentinel] = worker
        if not by_handle:
            time.sleep(max(timeout, 0))
            return events, requeue
        for ready in wait(list(by_handle), timeout=max(timeout, 0)):
            worker = by_handle[ready]
            if ready is worker.conn:
                self._drain(worker, events)
        for index, worker in enumerate(self._workers):
            if not worker.process.is_alive() and worker.queue:
                self._drain(worker, events)
                if worker.queue:
                    head = worker.queue.popleft()
                    code = worker.process.exitcode
                    sig = -code if code is not None and code < 0 else None
                    if key_of(head) not in self._discarded:
                        events.append(Lost(head, code, sig, time.monotonic() - worker.head_started))
                    requeue.extend(self._release(worker))
                    self._workers[index] = self._spawn()
            elif worker.queue and time.monotonic() >= self._hard_deadline(worker):
                head = worker.queue[0]
                events.append(Killed(head, time.monotonic() - worker.head_started))
                requeue.extend(self._replace(index))
        return events, [t for t in requeue if key_of(t) not in self._discarded]

    def _drain(self, worker: _Worker, events: list[PoolEvent]) -> None:
        while worker.queue:
            try:
                if not worker.conn.poll():
                    return
                data = worker.conn.recv_bytes()
            except (EOFError, OSError):
                return
            result: Result = json.loads(data)
            worker.queue.popleft()
            worker.head_started = time.monotonic()
            key = key_of(result)
            if key in self._discarded:
                self._discarded.discard(key)
                continue
            events.append(Finished(result))

    def _release(self, worker: _Worker) -> list[Task]:
        """Tasks queued behind a dead or killed head never started: hand them back."""
        rest = list(worker.queue)
        worker.queue.clear()
        worker.conn.close()
        return rest

    def _replace(self, index: int) -> list[Task]:
        worker = self._workers[index]
        _kill(worker.process)
        worker.queue.popleft()
        rest = self._release(worker)
        self._workers[index] = self._spawn()
        return rest

    def abort(self, keys: Iterable[TaskKey]) -> list[Task]:
        """Stop these tasks: kill the process running one, drop queued ones. Returns requeues."""
        wanted = set(keys)
        requeue: list[Task] = []
        for index, worker in enumerate(self._workers):
            if not worker.queue:
                continue
            if key_of(worker.queue[0]) in wanted:
                requeue.extend(self._replace(index))
            else:
                self._discarded.update(key_of(t) for t in worker.queue if key_of(t) in wanted)
        return [t for t in requeue if key_of(t) not in wanted]

    def close(self) -> None:
        for worker in self._workers:
            worker.conn.close()
        for worker in self._workers:
            worker.process.join(timeout=1)
            if worker.process.is_alive():
                _kill(worker.process)


def _kill(process: BaseProcess) -> None:
    if process.pid is None:
        return
    try:
        os.kill(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.join(timeout=5)
