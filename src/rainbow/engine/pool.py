"""A process pool that knows which task each process runs, so it can kill one and see one die.

``concurrent.futures.ProcessPoolExecutor`` cannot do either: a dead child breaks the whole pool
and a running task cannot be stopped. Here each worker process has its own pipe and a short queue
of tasks (``depth`` deep, so it never idles between tasks); the head of the queue is running.
A worker that dies is replaced; its head task is reported lost with the signal, and the tasks
queued behind it, which never started, are handed back to run elsewhere. Each worker leads its own
process group, so killing it also kills what it started (command modules and their children).

Workers of local code are forked from a forkserver in Rainbow's own interpreter. Workers of a
released version run in that version's own environment: started there as a program
(``python -P -m rainbow.engine.worker_process FD``) on an inherited socket, they speak the same
JSON over it.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from rainbow.engine.worker_process import READY, worker_main
from rainbow.errors import PlatformError, UserError
from rainbow.sdk.messages import Result, Task

TaskKey = tuple[str, str, int]
MAX_IMPORT_DEATHS = 3
SPAWN_RETRY_DELAYS_S = (0.0, 0.1, 0.5, 1.0, 2.0)


def key_of(task: Task | Result) -> TaskKey:
    return (task["run_id"], task["step"], task["attempt"])


@dataclass(frozen=True)
class Started:
    """``task`` reached the head of its worker's queue: it is running from now on."""

    task: Task


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


PoolEvent = Started | Finished | Lost | Killed


class _Process(Protocol):
    """What the pool needs of a worker process, forked or started as a program."""

    @property
    def pid(self) -> int | None: ...

    @property
    def sentinel(self) -> int: ...

    @property
    def exitcode(self) -> int | None: ...

    def join(self, timeout: float | None = None) -> None: ...

    def is_alive(self) -> bool: ...


class _Program:
    """A worker started as a program: a ``Popen`` with the sentinel and exit code of a
    ``multiprocessing`` process (a pidfd, readable once the process has exited)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid: int | None = popen.pid
        self.sentinel = os.pidfd_open(popen.pid)

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)
        if self._popen.returncode is not None and self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1


@dataclass
class _Worker:
    process: _Process
    conn: Connection
    queue: deque[Task] = field(default_factory=deque)
    head_started: float = 0.0
    ready: bool = False
    """Set when the worker has imported its module code and takes tasks."""


class WorkerPool:
    def __init__(
        self,
        size: int,
        *,
        refs: dict[str, dict[str, Any] | None],
        env: dict[str, str],
        log_file: str,
        depth: int = 2,
        grace: float = 1.0,
        python: str | None = None,
    ) -> None:
        """``refs`` says where each module's code is (None: its installed entry point);
        ``python``, the interpreter of a released version's environment to run workers in,
        when not Rainbow's own."""
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.size = size
        self.depth = depth
        self.grace = grace
        self._refs = refs
        self._env = env
        self._log_file = log_file
        self._python = python
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["rainbow.engine.worker_process"])
        self._workers: list[_Worker] = []
        self._discarded: set[TaskKey] = set()
        self._events: list[PoolEvent] = []
        self._deaths_while_importing = 0
        self._requeue: list[Task] = []

    def start(self) -> None:
        self._workers = [self._spawn() for _ in range(self.size)]

    def _spawn(self) -> _Worker:
        return self._fork() if self._python is None else self._start_program(self._python)

    def _start_program(self, python: str) -> _Worker:
        parent, child = multiprocessing.Pipe()
        argv = [python, "-P", "-m", "rainbow.engine.worker_process", str(child.fileno())]
        # The version's environment is all it runs on: a PYTHONPATH from outside would put
        # other code (a checkout of the module, Rainbow's own tree) before it.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        try:
            popen = subprocess.Popen(argv, env=env, pass_fds=(child.fileno(),))
        except OSError as exc:
            parent.close()
            raise PlatformError(f"could not start a worker process with {python}: {exc}") from None
        finally:
            child.close()
        config = {"refs": self._refs, "env": self._env, "log_file": self._log_file}
        parent.send_bytes(json.dumps(config).encode())
        return _Worker(process=_Program(popen), conn=parent)

    def _fork(self) -> _Worker:
        """Start a worker; if the forkserver that forks them died (killed with the pool, or
        reaped by a parent such as gunicorn's arbiter), start a new forkserver first."""
        failure: BaseException | None = None
        for delay in SPAWN_RETRY_DELAYS_S:
            time.sleep(delay)
            parent, child = self._context.Pipe()
            process = self._context.Process(
                target=worker_main,
                args=(child, self._refs, self._env, self._log_file),
                daemon=True,
                name="rainbow-worker",
            )
            try:
                process.start()
            except (OSError, EOFError) as exc:  # ChildProcessError, ConnectionRefusedError…
                failure = exc
                parent.close()
                _restart_forkserver()
                continue
            finally:
                child.close()
            return _Worker(process=process, conn=parent)
        raise PlatformError(
            f"could not start a local worker process ({failure}); "
            f"{len(SPAWN_RETRY_DELAYS_S)} tries, each with a new forkserver"
        )

    @property
    def capacity(self) -> int:
        return sum(self.depth - len(w.queue) for w in self._workers if w.ready)

    def submit(self, task: Task) -> None:
        ready = [i for i, w in enumerate(self._workers) if w.ready]
        index = min(ready, key=lambda i: len(self._workers[i].queue))
        worker = self._workers[index]
        if len(worker.queue) >= self.depth:
            raise RuntimeError("pool is full; check capacity before submitting")
        try:
            worker.conn.send_bytes(json.dumps(task).encode())
        except OSError:
            # The worker died since the last poll; its replacement takes the task.
            self._replace(index, lost=True)
            self.submit(task)
            return
        worker.queue.append(task)
        if len(worker.queue) == 1:
            self._begin_head(worker)

    def _begin_head(self, worker: _Worker) -> None:
        worker.head_started = time.monotonic()
        head = worker.queue[0]
        if key_of(head) not in self._discarded:
            self._events.append(Started(head))

    def next_deadline(self) -> float | None:
        deadlines = [self._hard_deadline(w) for w in self._workers if w.queue]
        return min(deadlines) if deadlines else None

    def _hard_deadline(self, worker: _Worker) -> float:
        # The module gets its own timeout (SIGALRM) first; this only catches code that ignores it.
        timeout = worker.queue[0]["timeout"]
        return worker.head_started + timeout + self.grace + 0.1 * timeout

    @property
    def has_events(self) -> bool:
        return bool(self._events)

    def handles(self) -> list[Any]:
        """What to wait on for news from the workers: their pipes and their deaths."""
        handles: list[Any] = [w.conn for w in self._workers if w.queue or not w.ready]
        return handles + [w.process.sentinel for w in self._workers]

    def collect(self, ready: set[Any]) -> tuple[list[PoolEvent], list[Task]]:
        """What happened, given the handles found ready; and the tasks to submit again."""
        for worker in self._workers:
            if worker.conn in ready and not worker.ready:
                self._await_ready(worker)
            elif worker.queue and worker.conn in ready:
                self._drain(worker)
        now = time.monotonic()
        for index, worker in enumerate(self._workers):
            if worker.process.sentinel in ready:
                if not worker.ready:
                    self._deaths_while_importing += 1
                    if self._deaths_while_importing >= MAX_IMPORT_DEATHS:
                        raise UserError(
                            "worker processes die while importing the module code "
                            f"(exit code {worker.process.exitcode})",
                            hint="import the module file in plain Python to see why",
                        )
                self._drain(worker)
                self._replace(index, lost=True)
            elif worker.queue and now >= self._hard_deadline(worker):
                head = worker.queue[0]
                if key_of(head) not in self._discarded:
                    self._events.append(Killed(head, now - worker.head_started))
                self._replace(index, lost=False)
        events, requeue = self._events, self._requeue
        self._events, self._requeue = [], []
        return events, requeue

    def _await_ready(self, worker: _Worker) -> None:
        try:
            worker.ready = worker.conn.recv_bytes() == READY
        except (EOFError, OSError):
            return  # it died while importing; the sentinel check replaces it

    def _drain(self, worker: _Worker) -> None:
        while worker.queue:
            try:
                if not worker.conn.poll():
                    return
                data = worker.conn.recv_bytes()
            except (EOFError, OSError):
                return
            result: Result = json.loads(data)
            worker.queue.popleft()
            key = key_of(result)
            if key in self._discarded:
                self._discarded.discard(key)
            else:
                self._events.append(Finished(result))
            if worker.queue:
                self._begin_head(worker)
                if key_of(worker.queue[0]) in self._discarded:
                    # An aborted task reached the head: stop it before it does any work.
                    self._replace(self._workers.index(worker), lost=False)
                    return

    def _replace(self, index: int, *, lost: bool) -> None:
        """Kill worker ``index`` and start a new one; report its head, requeue the rest."""
        worker = self._workers[index]
        _kill(worker.process)
        worker.conn.close()
        if worker.queue:
            head = worker.queue.popleft()
            key = key_of(head)
            if key in self._discarded:
                self._discarded.discard(key)
            elif lost:
                code = worker.process.exitcode
                sig = -code if code is not None and code < 0 else None
                self._events.append(Lost(head, code, sig, time.monotonic() - worker.head_started))
            for task in worker.queue:
                if key_of(task) in self._discarded:
                    self._discarded.discard(key_of(task))
                else:
                    self._requeue.append(task)
        self._workers[index] = self._spawn()

    def abort(self, keys: Iterable[TaskKey]) -> None:
        """Stop these tasks: kill the process running one; a queued one dies reaching the head."""
        wanted = set(keys)
        for index, worker in enumerate(self._workers):
            queued = [key_of(t) for t in worker.queue]
            if not wanted.intersection(queued):
                continue
            self._discarded.update(wanted.intersection(queued))
            if queued[0] in wanted:
                self._replace(index, lost=False)

    def close(self) -> None:
        """Stop every worker: idle ones finish cleanly, busy ones are killed."""
        for worker in self._workers:
            if worker.queue:
                _kill(worker.process)
            worker.conn.close()
        for worker in self._workers:
            worker.process.join(timeout=2)
            if worker.process.is_alive():
                _kill(worker.process)


def _restart_forkserver() -> None:
    """Forget multiprocessing's forkserver so that the next start launches a new one.

    Its own check (``waitpid``) raises ChildProcessError forever once another part of the
    process has reaped the dead server, and a server killed a moment ago refuses connections
    before that check sees it die; neither recovers by itself.
    """
    from multiprocessing import forkserver, util

    # Private state, typed loosely: the stubs know only the public methods.
    server: Any = forkserver._forkserver
    with server._lock:
        pid, alive_fd = server._forkserver_pid, server._forkserver_alive_fd
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            os.close(alive_fd)
        address = server._forkserver_address
        if address and not util.is_abstract_socket_namespace(address):
            with contextlib.suppress(OSError):
                os.unlink(address)
        server._forkserver_pid = server._forkserver_alive_fd = server._forkserver_address = None


def _kill(process: _Process) -> None:
    if process.pid is None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=5)
