"""The distributed engine under failure, on real RabbitMQ and PostgreSQL (bounded in time)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from kombu import Connection, Exchange, Producer

from tests.distributed import pipelines
from tests.distributed.conftest import Cluster, rabbitmqctl

pytestmark = pytest.mark.slow


def attempts_of(cluster: Cluster, run_id: str) -> list[tuple[str, Any]]:
    detail = cluster.store.get_run(run_id)
    assert detail is not None
    return [(s.step, a) for s in detail.steps for a in s.attempts]


def test_pinned_versions_land_on_their_own_instances(cluster: Cluster) -> None:
    """Runs pinned to add@1.1 and to add@latest, submitted together, each use the right worker."""
    cluster.conductor()
    v11 = cluster.worker("add", "1.1")
    latest = cluster.worker("add", "latest")
    old = cluster.submit(pipelines.pair_v11, [{"x": i} for i in range(5)])
    new = cluster.submit(pipelines.pair_latest, [{"x": i} for i in range(5)])
    summaries = cluster.wait(old + new)
    assert {s.status for s in summaries} == {"succeeded"}
    for run_ids, process in ((old, v11), (new, latest)):
        workers = {a.worker.rsplit(":", 1)[1] for r in run_ids for _, a in attempts_of(cluster, r)}
        assert workers == {str(process.pid)}


def test_a_poison_message_is_dead_lettered_and_fails_its_step(cluster: Cluster) -> None:
    """A module that kills its process every time fails with 'worker lost N times (signal 9)'
    while runs on other queues complete."""
    cluster.conductor()
    cluster.worker("crash", "latest")
    cluster.worker("add", "latest")
    (poisoned,) = cluster.submit(pipelines.poison, [{}])
    healthy = cluster.submit(pipelines.pair_latest, [{"x": i} for i in range(10)])
    by_id = {s.run_id: s for s in cluster.wait([poisoned, *healthy], timeout=90)}
    assert by_id[poisoned].status == "failed"
    assert "worker lost 6 times (signal 9)" in (by_id[poisoned].reason or ""), cluster.logs()
    assert {by_id[r].status for r in healthy} == {"succeeded"}


def test_pickle_and_malformed_json_are_rejected_and_the_worker_keeps_working(
    cluster: Cluster, broker_url: str
) -> None:
    """Pickle and broken JSON on a module queue are dead-lettered and logged; work goes on."""
    from rainbow.engine.celery.topology import instance_queue

    cluster.conductor()
    worker = cluster.worker("add", "latest")
    queue = instance_queue("add", "latest")
    headers = {"task": "rainbow.step", "id": "bad-1", "lang": "py"}
    with Connection(broker_url) as connection:
        producer = Producer(connection.channel())
        for body, content_type in (
            (
                b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00]\x94.",
                "application/x-python-serialize",
            ),
            (b'[[{"run_id": "x"', "application/json"),
        ):
            producer.publish(
                body,
                exchange=Exchange(queue.exchange.name, type="direct"),
                routing_key=queue.routing_key,
                content_type=content_type,
                content_encoding="binary" if "python" in content_type else "utf-8",
                headers=headers,
            )
    runs = cluster.submit(pipelines.pair_latest, [{"x": 1}])
    (summary,) = cluster.wait(runs, timeout=60)
    assert summary.status == "succeeded"
    assert worker.poll() is None, "the worker must survive bad messages"
    log = cluster.home / "worker-add-latest.log"
    refusals = (
        "Refusing to deserialize untrusted content of type pickle",
        "rejected an undecodable message (application/json",
    )
    # The worker may take the good task before it gets to the bad ones: wait for its word.
    give_up = time.monotonic() + 30
    while not all(line in log.read_text() for line in refusals):
        assert time.monotonic() < give_up, log.read_text()
        time.sleep(0.2)
    # Dead-lettered to rainbow.dead, where the conductor logs them too.
    conductor_log = cluster.home / "conductor.log"
    dead = (
        "rejected a message in application/x-python-serialize",
        "rejected a message in application/json",
    )
    while not all(line in conductor_log.read_text() for line in dead):
        assert time.monotonic() < give_up, conductor_log.read_text()
        time.sleep(0.2)


def finished_count(cluster: Cluster, run_ids: list[str]) -> int:
    return sum(
        1 for s in cluster.store.list_runs(limit=len(run_ids) + 10) if s.status == "succeeded"
    )


def wait_until(predicate: Any, timeout: float = 60) -> None:
    give_up = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < give_up, "timed out waiting"
        time.sleep(0.1)


def assert_recorded_once(cluster: Cluster, run_ids: list[str], units: list[dict[str, Any]]) -> None:
    """Every run succeeded with the right result; every step has exactly one attempt record."""
    for run_id, unit in zip(run_ids, units, strict=True):
        detail = cluster.store.get_run(run_id)
        assert detail is not None and detail.summary.status == "succeeded", detail
        assert detail.outputs == {"result": unit["x"] + 2}
        for step in detail.steps:
            assert [(a.attempt, a.status) for a in step.attempts] == [(1, "succeeded")]


def test_kill_9_of_a_worker_mid_load_loses_nothing(cluster: Cluster) -> None:
    """200 runs complete although one of two workers is killed with SIGKILL in the middle."""
    cluster.conductor()
    cluster.worker("add", "latest", name="doomed")
    cluster.worker("add", "latest", name="survivor")
    units = [{"x": i, "pause": 0.01} for i in range(200)]
    run_ids = cluster.submit(pipelines.pair_latest, units)
    wait_until(lambda: finished_count(cluster, run_ids) >= 30)
    cluster.kill("doomed")
    cluster.wait(run_ids, timeout=180)
    assert_recorded_once(cluster, run_ids, units)


def test_kill_9_of_the_conductor_mid_load_then_restart(cluster: Cluster) -> None:
    """All runs complete after the conductor is killed and another starts; no task ran twice."""
    cluster.conductor("first")
    cluster.worker("add", "latest", concurrency=2)
    units = [{"x": i, "pause": 0.01} for i in range(200)]
    run_ids = cluster.submit(pipelines.pair_latest, units)
    wait_until(lambda: finished_count(cluster, run_ids) >= 50)
    cluster.kill("first")
    cluster.conductor("second")
    cluster.wait(run_ids, timeout=180)
    assert_recorded_once(cluster, run_ids, units)
    executed = executed_task_ids(cluster)
    assert len(executed) == len(set(executed)), "a task was dispatched twice to completion"


def test_a_hanging_module_is_stopped_at_its_timeout_retried_then_failed(cluster: Cluster) -> None:
    """A step sleeping past its 2 s timeout is stopped within 10 %, retried once, then fails."""
    cluster.conductor()
    cluster.worker("sleepy", "latest")
    (run_id,) = cluster.submit(pipelines.hang, [{"seconds": 60}])
    (summary,) = cluster.wait([run_id], timeout=60)
    assert summary.status == "failed"
    attempts = [a for _, a in attempts_of(cluster, run_id)]
    assert [a.status for a in attempts] == ["timed_out", "timed_out"]
    assert all(1.9 <= (a.duration_s or 0) <= 2.2 for a in attempts), attempts


def test_a_module_deaf_to_its_timeout_is_killed_at_the_hard_limit(cluster: Cluster) -> None:
    """A step blocking SIGALRM is killed by Celery's hard limit and recorded as timed out."""
    cluster.conductor()
    cluster.worker("stubborn", "latest")
    (run_id,) = cluster.submit(pipelines.deaf, [{"seconds": 60}])
    started = time.monotonic()
    (summary,) = cluster.wait([run_id], timeout=60)
    assert summary.status == "failed"
    assert time.monotonic() - started < 15
    (attempt,) = [a for _, a in attempts_of(cluster, run_id)]
    assert attempt.status == "timed_out" and "deaf to it" in (attempt.error_message or "")


def test_a_run_past_its_deadline_times_out_and_its_step_is_stopped(cluster: Cluster) -> None:
    """A 2 s run deadline ends the run at once; the running step is revoked or stopped."""
    cluster.conductor()
    cluster.worker("sleepy", "latest")
    cluster.worker("add", "latest")
    (run_id,) = cluster.submit(pipelines.short_deadline, [{"seconds": 60}])
    started = time.monotonic()
    (summary,) = cluster.wait([run_id], timeout=60)
    assert summary.status == "timed_out"
    assert time.monotonic() - started < 10
    (attempt,) = [a for step, a in attempts_of(cluster, run_id) if step == "sleepy"]
    assert attempt.status in ("aborted", "timed_out")


def test_a_result_that_waited_out_a_conductor_restart_beats_its_deadline(
    cluster: Cluster,
) -> None:
    """A step finishing in time while no conductor runs: the next conductor reads its result
    before it fires the run's (by then past) deadline."""
    cluster.conductor("first")
    cluster.worker("sleepy", "latest")
    (run_id,) = cluster.submit(pipelines.in_time, [{"seconds": 2}])
    wait_until(lambda: attempts_of(cluster, run_id))  # announced: it runs for over a second
    cluster.kill("first")
    started_at = cluster.store.get_run(run_id).summary.started_at
    deadline = started_at.timestamp() + pipelines.in_time.timeout
    time.sleep(max(0.0, deadline + 1 - time.time()))
    cluster.conductor("second")
    (summary,) = cluster.wait([run_id], timeout=60)
    assert summary.status == "succeeded", summary.reason


def test_a_broker_restart_during_a_load_loses_nothing(cluster: Cluster) -> None:
    """Workers and the conductor reconnect after RabbitMQ restarts; every run completes."""
    cluster.conductor()
    cluster.worker("add", "latest", concurrency=2)
    units = [{"x": i, "pause": 0.02} for i in range(100)]
    run_ids = cluster.submit(pipelines.pair_latest, units)
    wait_until(lambda: finished_count(cluster, run_ids) >= 10)
    rabbitmqctl("stop_app")
    try:
        time.sleep(3)
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
    cluster.wait(run_ids, timeout=180)
    assert_recorded_once(cluster, run_ids, units)


def executed_task_ids(cluster: Cluster) -> list[str]:
    logs = "".join(p.read_text() for p in cluster.home.glob("*.log"))
    return re.findall(r"Task rainbow\.step\[([^\]]+)\] succeeded", logs)


def test_two_conductors_share_the_work_without_double_dispatch(cluster: Cluster) -> None:
    """Two conductors on one PostgreSQL database drive 200 runs; no task runs twice."""
    cluster.conductor("first")
    cluster.conductor("second")
    cluster.worker("add", "latest", concurrency=2)
    units = [{"x": i, "pause": 0.0} for i in range(200)]
    run_ids = cluster.submit(pipelines.pair_latest, units)
    cluster.wait(run_ids, timeout=180)
    assert_recorded_once(cluster, run_ids, units)
    executed = executed_task_ids(cluster)
    assert len(executed) == len(set(executed)) == 2 * len(run_ids)


def test_sigterm_lets_a_worker_finish_what_it_holds(cluster: Cluster) -> None:
    """A worker told to stop (SIGTERM, as an autoscaler does) finishes its step; nothing reruns."""
    cluster.conductor()
    cluster.worker("add", "latest", name="leaving")
    (run_id,) = cluster.submit(pipelines.pair_latest, [{"x": 1, "pause": 3.0}])
    wait_until(
        lambda: any(a.status == "running" for _, a in attempts_of(cluster, run_id)), timeout=30
    )
    cluster.kill("leaving", signal.SIGTERM)
    cluster.worker("add", "latest", name="arriving")
    (summary,) = cluster.wait([run_id], timeout=60)
    assert summary.status == "succeeded"
    assert_recorded_once(cluster, [run_id], [{"x": 1}])
    executed = executed_task_ids(cluster)
    assert len(executed) == len(set(executed)) == 2


def test_rainbow_retry_resumes_a_failed_run_from_its_failed_step(cluster: Cluster) -> None:
    """`rainbow retry RUN --wait` reruns the failed step (a new attempt) and the run succeeds."""
    cluster.conductor()
    cluster.worker("flaky", "latest")
    cluster.worker("add", "latest")
    (run_id,) = cluster.submit(pipelines.flaky_once, [{"x": 5}])
    (summary,) = cluster.wait([run_id], timeout=60)
    assert summary.status == "failed"
    done = subprocess.run(
        [sys.executable, "-m", "rainbow", "retry", run_id, "--wait"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    detail = cluster.store.get_run(run_id)
    assert detail is not None and detail.summary.status == "succeeded"
    flaky = next(s for s in detail.steps if s.step == "flaky")
    assert [(a.attempt, a.status) for a in flaky.attempts] == [(1, "failed"), (2, "succeeded")]
    assert detail.outputs == {"result": 6}


def test_rainbow_cancel_stops_a_running_run(cluster: Cluster) -> None:
    """`rainbow cancel RUN` ends a running run as cancelled and stops its step."""
    cluster.conductor()
    cluster.worker("add", "latest")
    (run_id,) = cluster.submit(pipelines.pair_latest, [{"x": 1, "pause": 8.0}])
    wait_until(
        lambda: any(a.status == "running" for _, a in attempts_of(cluster, run_id)), timeout=30
    )
    done = subprocess.run(
        [sys.executable, "-m", "rainbow", "cancel", run_id, "--reason", "not needed"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (summary,) = cluster.wait([run_id], timeout=30)
    assert (summary.status, summary.reason) == ("cancelled", "not needed")
    (attempt,) = [a for step, a in attempts_of(cluster, run_id) if step == "add"]
    assert attempt.status == "aborted"
