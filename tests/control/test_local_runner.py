"""The control plane's embedded engine survives its pool being killed: only running work is lost."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from rainbow.sdk.catalog import modules_in
from tests.engine import modules_for_tests

pytestmark = pytest.mark.slow


def _kill_the_pool() -> int:
    """kill -9 the forkserver and every worker it forked, and reap the forkserver the way
    gunicorn's arbiter reaps any child of the web server; returns how many died."""
    from multiprocessing import forkserver

    server_pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    server = psutil.Process(server_pid)
    victims = [server, *server.children(recursive=True)]
    for victim in victims:
        victim.send_signal(signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # the pool may have reaped it first
        os.waitpid(server_pid, 0)
    return len(victims)


def test_killing_the_pool_loses_only_the_running_attempts(
    sqlite_database: str, tmp_path: Path
) -> None:
    """Six queued runs, two running when the forkserver and all its workers are killed: the
    two running attempts are recorded lost and retried, the runs that had not started run
    once, and every run succeeds."""
    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import LocalExecutor, LocalRunner
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.engine.local import LocalOptions
    from rainbow.engine.workunits import WorkUnit

    spec, _ = compile_pipeline(modules_for_tests.single_retried)
    units = [WorkUnit(f"u{i}", {"x": i, "pause": 1.0}) for i in range(6)]
    run_ids = LocalExecutor().submit(spec, units, environment="staging", submitted_by="t")
    options = LocalOptions(
        workers=2,
        depth=1,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
    )
    runner = LocalRunner(
        modules_in(vars(modules_for_tests), depth=0), options, builds_cache=tmp_path / "builds"
    )
    ran = threading.Thread(target=runner.run_pending)
    ran.start()
    store = DjangoStore()

    def running_attempts() -> list[str]:
        details = [store.get_run(r) for r in run_ids]
        return [
            d.summary.run_id
            for d in details
            if d and any(a.status == "running" for s in d.steps for a in s.attempts)
        ]

    give_up = time.monotonic() + 30
    while len(running := running_attempts()) < 2:
        assert time.monotonic() < give_up, "no two attempts ever ran at once"
        time.sleep(0.05)
    assert _kill_the_pool() >= 3
    ran.join(timeout=60)
    assert not ran.is_alive()

    details = {r: store.get_run(r) for r in run_ids}
    statuses = {r: d.summary.status for r, d in details.items() if d}
    assert set(statuses.values()) == {"succeeded"}, {
        r: d.summary.reason for r, d in details.items() if d
    }
    for run_id, detail in details.items():
        assert detail is not None
        outcomes = [a.status for a in detail.steps[0].attempts]
        assert outcomes == (["worker_lost", "succeeded"] if run_id in running else ["succeeded"])


def test_runs_the_engine_never_started_are_requeued_then_failed_saying_why(
    sqlite_database: str, tmp_path: Path
) -> None:
    """When the local engine fails before a run starts (here every worker dies importing its
    module), the run goes back to the queue for the next try, and after three such failures it
    fails with the engine's reason instead of being retried forever."""
    from rainbow.control.models import Run
    from rainbow.control.persistence.store import DjangoStore
    from rainbow.control.services.execution import MAX_REQUEUES, LocalExecutor, LocalRunner
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.engine.local import LocalOptions
    from rainbow.engine.workunits import WorkUnit
    from tests.engine import crash_in_worker_modules

    spec, _ = compile_pipeline(modules_for_tests.single)
    (run_id,) = LocalExecutor().submit(
        spec, [WorkUnit("u", {"x": 1})], environment="staging", submitted_by="t"
    )
    options = LocalOptions(
        workers=1, work_root=tmp_path / "work", log_file=tmp_path / "rainbow.log"
    )
    runner = LocalRunner(
        modules_in(vars(crash_in_worker_modules), depth=0),
        options,
        builds_cache=tmp_path / "builds",
    )
    for _ in range(MAX_REQUEUES - 1):
        assert runner.run_pending() == 1
        row = Run.objects.get(run_id=run_id)
        assert (row.status, row.owner) == ("pending", ""), "it was not given back to the queue"
    assert runner.run_pending() == 1
    (summary,) = [DjangoStore().get_run(run_id).summary]  # type: ignore[union-attr]
    assert summary.status == "failed"
    assert "die while importing" in (summary.reason or "")
    assert f"failed {MAX_REQUEUES} times" in (summary.reason or "")
