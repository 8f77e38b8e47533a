"""The distributed engine under failure, on real RabbitMQ and PostgreSQL (bounded in time)."""

from __future__ import annotations

from typing import Any

import pytest
from kombu import Connection, Exchange, Producer

from tests.distributed import pipelines
from tests.distributed.conftest import Cluster

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
    worker_log = (cluster.home / "worker-add-latest.log").read_text()
    assert "Refusing to deserialize untrusted content of type pickle" in worker_log
    assert "rejected an undecodable message (application/json" in worker_log
    # Dead-lettered to rainbow.dead, where the conductor logs them too.
    conductor_log = (cluster.home / "conductor.log").read_text()
    assert "rejected a message in application/x-python-serialize" in conductor_log
    assert "rejected a message in application/json" in conductor_log
