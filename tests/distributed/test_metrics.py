"""Workers and the conductor expose Prometheus metrics on /metrics."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from tests.distributed import pipelines
from tests.distributed.conftest import Cluster

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_metrics_cover_steps_runs_queues_and_waits(cluster: Cluster) -> None:
    """Step durations and queue waits come from the worker (its children aggregated); run
    durations and queue depth per instance from the conductor."""
    conductor_port, worker_port = free_port(), free_port()
    cluster.conductor("conductor", "--metrics-port", str(conductor_port))
    cluster.worker("add", "latest", "--metrics-port", str(worker_port), concurrency=2)
    cluster.wait(cluster.submit(pipelines.pair_latest, [{"x": 1}, {"x": 2}]))
    worker = scrape(worker_port)
    assert (
        'rainbow_step_duration_seconds_count{module="add",status="succeeded",version="latest"} 4.0'
        in worker
    )
    assert 'rainbow_queue_wait_seconds_count{module="add",version="latest"} 4.0' in worker
    time.sleep(6)  # the conductor measures queue depths every 5 s
    conductor = scrape(conductor_port)
    assert (
        'rainbow_run_duration_seconds_count{pipeline="pair-latest",status="succeeded"} 2.0'
        in conductor
    )
    assert 'rainbow_queue_depth{module="add",version="latest"} 0.0' in conductor


def _timeouts(text: str, module: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "rainbow_timeouts_total" and sample.labels.get("module") == module
    )


def test_one_step_timeout_is_counted_once_across_worker_and_conductor(cluster: Cluster) -> None:
    """The worker that cut the step counts its timeout; the conductor, told by the result,
    does not count it again."""
    conductor_port, worker_port = free_port(), free_port()
    cluster.conductor("conductor", "--metrics-port", str(conductor_port))
    cluster.worker("sleepy", "latest", "--metrics-port", str(worker_port))
    (summary,) = cluster.wait(cluster.submit(pipelines.times_out_once, [{"seconds": 5}]))
    assert summary.status == "failed"
    counted = _timeouts(scrape(worker_port), "sleepy") + _timeouts(scrape(conductor_port), "sleepy")
    assert counted == 1
