"""A real cluster for the distributed tests: RabbitMQ (a vhost per test), PostgreSQL, and
conductor and worker processes started with the `rainbow` command, as an operator would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _service_missing, service_reachable

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "tests" / "engine" / "modules_for_tests.py"


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A fresh RabbitMQ vhost: the test's queues vanish with it, whatever the test left."""
    if not service_reachable("127.0.0.1", 5672) or shutil.which("rabbitmqctl") is None:
        _service_missing("RabbitMQ (and rabbitmqctl) is not available on 127.0.0.1:5672")
    vhost = f"rainbow-test-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    rabbitmqctl("delete_vhost", vhost)


class Cluster:
    """Conductors and workers as subprocesses, sharing one broker vhost and one database."""

    def __init__(self, broker_url: str, database_url: str, using: str, home: Path) -> None:
        from rainbow.control.persistence.ledger import DjangoLedger
        from rainbow.engine.celery.app import declare_shared_queues, make_app

        self.home = home
        self.env = {
            **os.environ,
            "RAINBOW_BROKER_URL": broker_url,
            "RAINBOW_DATABASE_URL": database_url,
            "RAINBOW_HOME": str(home),
            "RAINBOW_RETRY_BASE_DELAY": "0.05",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        }
        self.app = make_app(broker_url)
        declare_shared_queues(self.app)
        self.store = DjangoLedger(using=using)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.home / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "rainbow", *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def conductor(self, name: str = "conductor", *extra: str) -> subprocess.Popen[bytes]:
        return self.start(name, "conductor", *extra)

    def worker(
        self,
        module: str,
        version: str,
        *extra: str,
        name: str | None = None,
        concurrency: int = 1,
    ) -> subprocess.Popen[bytes]:
        label = name or f"worker-{module}-{version}"
        process = self.start(
            label,
            "worker",
            f"{MODULES}:{module}",
            "--version",
            version,
            "--concurrency",
            str(concurrency),
            *extra,
        )
        self.await_instance(module, version, process.pid)
        return process

    def await_instance(self, module: str, version: str, pid: int, timeout: float = 30) -> None:
        """Wait until the worker announced itself (a conductor must be running to record it)."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            found = [
                i for i in self.store.instances() if (i.module, i.version) == (module, version)
            ]
            if any(i.worker.endswith(f":{pid}") for i in found):
                return
            time.sleep(0.2)
        raise AssertionError(
            f"{module}@{version} (pid {pid}) never announced itself\n{self.logs()}"
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)

    def submit(self, pipeline: Any, units: Sequence[dict[str, Any]]) -> list[str]:
        from rainbow.dsl.compiler import compile_pipeline
        from rainbow.engine.celery.client import submit
        from rainbow.engine.workunits import WorkUnit

        spec, _ = compile_pipeline(pipeline)
        work = [WorkUnit(f"unit-{i}", dict(u)) for i, u in enumerate(units)]
        return submit(self.app, self.store, spec, work)

    def wait(self, run_ids: Sequence[str], timeout: float = 120) -> list[Any]:
        from rainbow.engine.celery.client import FINISHED, wait

        summaries = wait(self.store, run_ids, timeout_s=timeout, poll_s=0.2)
        unfinished = [s.run_id for s in summaries if s.status not in FINISHED]
        assert not unfinished and len(summaries) == len(run_ids), (
            f"{len(unfinished)} run(s) unfinished after {timeout}s\n{self.logs()}"
        )
        return summaries

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.home.glob("*.log"))
        )

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
        for process in self.processes.values():
            process.wait(timeout=30)
        self.processes.clear()
        self.app.close()


@pytest.fixture
def cluster(broker_url: str, postgres_database: str, tmp_path: Path) -> Iterator[Cluster]:
    from django.conf import settings

    database_url = settings.RAINBOW_DATABASE_URLS[postgres_database]
    running = Cluster(broker_url, database_url, postgres_database, tmp_path)
    try:
        yield running
    finally:
        running.stop()
