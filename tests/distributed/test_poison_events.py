"""One bad event fails only its own run: the conductor records the rest and keeps conducting."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kombu import Connection

from tests.distributed import pipelines
from tests.distributed.conftest import Cluster

pytestmark = pytest.mark.slow


def _publish(broker_url: str, *events: Any) -> None:
    from rainbow.engine.celery.topology import EVENTS, EVENTS_EXCHANGE

    with Connection(broker_url) as connection:
        producer = connection.Producer()
        for event in events:
            producer.publish(
                event,
                exchange=EVENTS_EXCHANGE,
                routing_key=EVENTS.routing_key,
                serializer="json",
                delivery_mode=2,
            )


def _result(run_id: str, **overrides: Any) -> dict[str, Any]:
    result = {
        "run_id": run_id,
        "step": "add",
        "attempt": 1,
        "status": "succeeded",
        "outputs": {"value": 1},
        "metrics": [],
        "timings": {},
        "duration_s": 0.01,
        "error": None,
        **overrides,
    }
    return {"v": 1, "type": "result", "result": result, "worker": "test:1"}


def _parked(broker_url: str) -> int:
    from rainbow.engine.celery.topology import PARKED

    with Connection(broker_url) as connection, connection.channel() as channel:
        _, ready, _ = PARKED(channel).queue_declare(passive=True)
    return int(ready)


def _dispatched(cluster: Cluster, run_ids: list[str]) -> None:
    """Wait until the conductor has started these runs (their first step is dispatched)."""
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        if set(cluster.store.run_statuses(run_ids).values()) == {"running"}:
            return
        time.sleep(0.1)
    raise AssertionError(f"runs never started\n{cluster.logs()}")


def test_a_nul_in_a_result_fails_its_run_and_other_pipelines_complete(
    cluster: Cluster, broker_url: str
) -> None:
    """A NUL in an output, a signal number PostgreSQL cannot store, a malformed event and one of
    an unknown wire schema arrive among ordinary traffic: the two runs fail saying why, the two
    unreadable events are parked with the field at fault logged, the conductor lives on and
    every other pipeline's runs succeed."""
    conductor = cluster.conductor()
    cluster.worker("add", "latest")
    # Pinned to add@1.1, which no worker serves: their attempts wait until the forged results.
    nul_run, refused_run = cluster.submit(pipelines.pair_v11, [{"x": 1}, {"x": 2}])
    _dispatched(cluster, [nul_run, refused_run])
    lost = {"v": 1, "type": "worker_lost", "run_id": refused_run, "step": "add", "attempt": 1}
    _publish(
        broker_url,
        _result(nul_run, outputs={"value": "a\x00b"}),
        {**lost, "signal": 2**40},  # wider than the exit_signal column
        {"v": 1, "type": "result", "result": "not an object"},
        {"v": 99, "type": "start", "run_id": nul_run},  # from a Rainbow of another wire schema
    )
    healthy = cluster.submit(pipelines.pair_latest, [{"x": i} for i in range(10)])
    by_id = {s.run_id: s for s in cluster.wait([nul_run, refused_run, *healthy], timeout=90)}

    assert {by_id[r].status for r in healthy} == {"succeeded"}, cluster.logs()
    assert by_id[nul_run].status == "failed"
    assert "NUL character" in (by_id[nul_run].reason or ""), by_id[nul_run].reason
    assert by_id[refused_run].status == "failed"
    assert "could not record a 'worker_lost' event" in (by_id[refused_run].reason or "")
    assert conductor.poll() is None, cluster.logs()
    assert _parked(broker_url) == 2
    logs = cluster.logs()
    assert "malformed (result: expected an object, got str)" in logs, logs
    assert "malformed (message.v: wire schema 99, this Rainbow reads 1)" in logs, logs


def test_a_task_run_twice_after_a_kill_leaves_its_trace(cluster: Cluster) -> None:
    """A worker killed with -9 mid-attempt: the broker delivers the task again and another
    worker runs it; the attempt's history says it was delivered twice, and where it ran last."""
    cluster.conductor()
    doomed = cluster.worker("add", "latest", name="doomed")
    (run_id,) = cluster.submit(pipelines.pair_latest, [{"x": 1, "pause": 4}])

    def attempt() -> Any:
        detail = cluster.store.get_run(run_id)
        attempts = [a for s in (detail.steps if detail else ()) for a in s.attempts]
        return attempts[0] if attempts else None

    give_up = time.monotonic() + 30
    while (first := attempt()) is None or first.status != "running":
        assert time.monotonic() < give_up, f"the attempt never started\n{cluster.logs()}"
        time.sleep(0.1)
    assert first.worker.endswith(f":{doomed.pid}") and first.deliveries == 1
    cluster.kill("doomed")
    survivor = cluster.worker("add", "latest", name="survivor")
    (summary,) = cluster.wait([run_id], timeout=60)
    assert summary.status == "succeeded", cluster.logs()
    again = attempt()
    assert again.attempt == 1 and again.deliveries == 2, again
    assert again.worker.endswith(f":{survivor.pid}")


def test_the_conductor_waits_out_a_store_outage_and_parks_nothing(
    cluster: Cluster, broker_url: str, postgres_database: str
) -> None:
    """PostgreSQL drops the conductor's connections again and again for a few seconds while
    results arrive: the conductor holds the events unacked, reconnects, records them all and
    stays up; nothing is parked and every run succeeds."""
    import psutil
    from django.db import connections

    conductor = cluster.conductor()
    cluster.worker("add", "latest")
    run_ids = cluster.submit(pipelines.pair_latest, [{"x": i, "pause": 0.2} for i in range(20)])
    me = psutil.Process(conductor.pid)
    dropped = 0
    until = time.monotonic() + 6
    with connections[postgres_database].cursor() as cursor:
        while time.monotonic() < until:
            ports = [
                c.laddr.port for c in me.net_connections("tcp") if c.raddr and c.raddr.port == 5432
            ]
            for port in ports:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = %s",
                    [port],
                )
                dropped += sum(1 for (ok,) in cursor.fetchall() if ok)
            time.sleep(0.3)
    assert dropped >= 3, "the test never cut the conductor off its store"
    summaries = cluster.wait(run_ids, timeout=120)
    assert {s.status for s in summaries} == {"succeeded"}, cluster.logs()
    assert conductor.poll() is None, cluster.logs()
    assert "the run store is away" in cluster.logs()
    assert _parked(broker_url) == 0


def test_an_event_returned_past_the_delivery_limit_is_parked(broker_url: str) -> None:
    """An event that every conductor fails on (returned to the queue each time, as a killed
    conductor's unacked events are) is parked after the events queue's delivery limit, instead
    of coming back for ever."""
    from rainbow.engine.celery.app import declare_shared_queues, make_app
    from rainbow.engine.celery.topology import EVENTS, EVENTS_DELIVERY_LIMIT

    declare_shared_queues(make_app(broker_url))
    _publish(broker_url, {"v": 1, "type": "start", "run_id": "doomed"})
    deliveries = 0
    with Connection(broker_url) as connection, connection.channel() as channel:
        queue = EVENTS(channel)
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            message = queue.get(no_ack=False)
            if message is None:
                if _parked(broker_url) == 1:
                    break
                time.sleep(0.05)
                continue
            deliveries += 1
            message.requeue()
    assert _parked(broker_url) == 1
    assert deliveries == EVENTS_DELIVERY_LIMIT + 1  # the first delivery and ten more
