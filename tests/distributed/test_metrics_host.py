"""The metrics endpoint has no authentication, so it listens on the loopback interface unless
`--metrics-host` names another."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from rainbow.errors import UserError
from tests.distributed.conftest import MODULES, ROOT
from tests.webserver import RAINBOW, free_port, run_rainbow


def outside_address() -> str:
    """An IPv4 address of this machine other than loopback: how another machine reaches it."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    pytest.skip("this machine has no network address besides loopback")


def answers(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def metrics_served(host: str | None = None) -> Iterator[int]:
    from rainbow.observe.metrics import serve

    port = free_port()
    server = serve(port) if host is None else serve(port, host)
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_listen_on_loopback_by_default() -> None:
    """Reachable from this machine, refused from its network address."""
    with metrics_served() as port:
        assert answers("127.0.0.1", port)
        assert not answers(outside_address(), port)


def test_metrics_listen_where_the_host_says() -> None:
    """0.0.0.0 opens the endpoint to other machines, for a Prometheus elsewhere."""
    with metrics_served("0.0.0.0") as port:
        assert answers(outside_address(), port)


def test_a_taken_port_or_unknown_host_is_a_clear_error() -> None:
    """Not a traceback from the HTTP server: what could not be served, and what to change."""
    from rainbow.observe.metrics import serve

    with metrics_served() as port, pytest.raises(UserError) as taken:
        serve(port)
    assert f"cannot serve metrics on 127.0.0.1:{port}" in taken.value.message
    with pytest.raises(UserError) as unknown:
        serve(free_port(), "no-such-host.invalid")
    assert "cannot serve metrics on no-such-host.invalid" in unknown.value.message
    assert "--metrics-host" in str(unknown.value.hint)


@pytest.mark.slow
def test_a_worker_serves_metrics_on_loopback_unless_told(broker_url: str, tmp_path: Path) -> None:
    """`rainbow worker --metrics-port P` binds 127.0.0.1:P, not every interface; a host without
    a port is refused before anything starts."""
    port = free_port()
    env = {
        **os.environ,
        "RAINBOW_BROKER_URL": broker_url,
        "RAINBOW_HOME": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
    }
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [
                *RAINBOW,
                "worker",
                f"{MODULES}:add",
                "--version",
                "latest",
                "--metrics-port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        give_up = time.monotonic() + 30
        while not answers("127.0.0.1", port):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < give_up, "the worker never served its metrics"
            time.sleep(0.2)
        assert not answers(outside_address(), port)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    refused = run_rainbow(
        env,
        "worker",
        f"{MODULES}:add",
        "--version",
        "latest",
        "--metrics-host",
        "0.0.0.0",
        expect=2,
    )
    assert "--metrics-host 0.0.0.0 without --metrics-port" in refused.stderr
