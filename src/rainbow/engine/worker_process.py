"""The loop of one local worker process: JSON task in over a pipe, JSON result out.

Runs in a child of the local executor's pool: forked (module code loaded by reference, so it works
under the forkserver start method), or started as a program in a released version's own
environment (``python -m rainbow.engine.worker_process FD``: module code loaded from the entry
points installed there, the settings read as the first message). It never raises for a
module's failure: ``invoke`` turns every outcome into a result. Only the executor kills it
(timeouts, aborts) or sees it die.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rainbow.errors import ModuleLoadError, RainbowError
from rainbow.lifetime import die_with_parent
from rainbow.observe import logging as rblog
from rainbow.sdk.catalog import AnyModule, installed_modules, load_ref
from rainbow.sdk.files import synced
from rainbow.sdk.invoke import WorkerEnv, invoke
from rainbow.sdk.messages import Result, Task
from rainbow.sdk.module import ModuleRef
from rainbow.settings import DEFAULT_MAX_OUTPUT_BYTES


def worker_main(
    conn: Connection, refs: dict[str, dict[str, Any] | None], env: dict[str, str], log_file: str
) -> None:
    # Its own process group: killing the group also kills what a command module started.
    # Ctrl-C then reaches only the executor, which decides what to stop.
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Killing the executor (even kill -9) kills its workers: a pipe alone leaves them running
    # until they next read it.
    die_with_parent()
    rblog.configure(log_file=Path(log_file))
    _send_output_to(Path(log_file))
    worker_env = WorkerEnv(
        assets_url=env["assets_url"],
        work_root=Path(env["work_root"]),
        max_output_bytes=int(env.get("max_output_bytes", DEFAULT_MAX_OUTPUT_BYTES)),
    )
    # Import module code before taking tasks, so a slow import (a model, torch) does not eat
    # into the first attempt's timeout; a failure is reported on each task of that module.
    loaded: dict[str, AnyModule | RainbowError] = {}
    for name, ref in refs.items():
        try:
            found = _installed(name) if ref is None else load_ref(ModuleRef(**ref), name)
            synced(found, worker_env.files_cache)
            loaded[name] = found
        except RainbowError as exc:
            loaded[name] = exc
    try:
        conn.send_bytes(READY)
    except OSError:
        return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        task: Task = json.loads(data)
        module = loaded[task["module"]]
        if isinstance(module, RainbowError):
            result = _load_failure(task, module)
        else:
            result = invoke(module, task, worker_env)
        try:
            conn.send_bytes(json.dumps(result).encode())
        except OSError:
            return  # the executor is gone or stopped waiting for us


READY = b'{"ready": true}'


def _installed(name: str) -> AnyModule:
    found = installed_modules([name]).get(name)
    if found is None:
        raise ModuleLoadError(
            f"module {name!r} is not installed in {sys.prefix}",
            hint="its release's build does not declare it as a rainbow.modules entry point",
        )
    return found


def main(argv: list[str]) -> None:
    """A worker started as a program, on the socket its pool left open as file ``argv[1]``."""
    conn = Connection(int(argv[1]))
    try:
        config = json.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return  # the pool went away before it sent what to run
    worker_main(conn, config["refs"], config["env"], config["log_file"])


def _send_output_to(log_file: Path) -> None:
    """Module prints go to the log file: the terminal belongs to the progress bar and --json."""
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _load_failure(task: Task, exc: RainbowError) -> Result:
    return Result(
        run_id=task["run_id"],
        step=task["step"],
        attempt=task["attempt"],
        status="failed",
        outputs=None,
        metrics=[],
        timings={},
        duration_s=0.0,
        error={
            "type": type(exc).__name__,
            "message": f"module {task['module']!r} could not be loaded: {exc}",
            "traceback": getattr(exc, "user_traceback", None),
            "retryable": False,
            "delay": None,
        },
    )


if __name__ == "__main__":
    main(sys.argv)
