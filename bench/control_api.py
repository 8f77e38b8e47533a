"""Requests/s and latency of the control plane's REST API: submitting runs, listing them.

For each store (SQLite, then PostgreSQL) a fresh ``rainbow web`` (gunicorn, 2 workers) on the
celery engine with a throwaway RabbitMQ vhost and no conductor, so that submitted runs stay
pending while each submit still publishes its start event as in production. A few client
threads, each with one persistent HTTP connection, submit N runs one per request
(``POST /api/runs``), then page through them with several filter combinations
(``GET /api/runs?...``). Prints requests/s and the p50/p95 latency of each phase, the latency
of each filter combination, and each phase's p50 as a ratio of the floor's: ``GET /api/me``,
which pays only for the server, authentication and the role lookup. A keep-alive connection
stays with the gunicorn worker that accepted it, so each phase also prints how the connections
fell (``3+1``; ``4+0`` measures one worker process).

    python bench/control_api.py [--runs 1000] [--lists 1000] [--threads 4] [--store sqlite]

Needs RabbitMQ (with rabbitmqctl) and PostgreSQL (with psql) on 127.0.0.1 (as on the dev machine).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from bench.services import schema, vhost  # noqa: E402  (after the path is set)

RAINBOW = [sys.executable, "-m", "rainbow"]
USER = "bench"
PIPELINE = "diamond"
PAGE = 50
WARM_UP = 10
"""Submits before measuring (not counted): first connections to the broker, first-use imports."""


@contextmanager
def sqlite() -> Iterator[str]:
    yield ""  # the default: a SQLite file under RAINBOW_HOME


STORES: dict[str, Callable[[], Any]] = {"sqlite": sqlite, "postgresql": schema}


@contextmanager
def home() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rainbow-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def rainbow(env: dict[str, str], *args: str, stdin: str = "") -> str:
    """Run one CLI command; its standard output (the command's error on failure)."""
    command = [*RAINBOW, *args]
    done = subprocess.run(
        command, env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"rainbow {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def set_up(env: dict[str, str]) -> str:
    """A researcher, the no-op module and the diamond pipeline registered; the user's token."""
    password = secrets.token_urlsafe(16)
    rainbow(env, "createuser", USER, "--role", "researcher", "--password-stdin", stdin=password)
    token = rainbow(env, "token", "create", "bench", "--user", USER).split()[-1]
    code = "bench/noop_modules.py"
    rainbow(env, "module", "register", code, "--version", "latest", "--user", USER)
    rainbow(env, "pipeline", "register", f"{code}:{PIPELINE}", "--user", USER)
    return token


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Client:
    """One persistent HTTP connection to the API, with the token."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        payload = None if body is None else json.dumps(body).encode()
        self.connection.request(method, f"/api{path}", body=payload, headers=self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def get(self, path: str) -> Any:
        """The JSON answer of a GET that must succeed."""
        status, body = self.call("GET", path)
        if status != 200:
            raise SystemExit(f"GET /api{path} answered {status}: {body.decode()[:2000]}")
        return json.loads(body)

    def close(self) -> None:
        self.connection.close()


@dataclass(frozen=True)
class Api:
    """A running control plane: where it listens, the token, and its gunicorn master."""

    port: int
    token: str
    master: psutil.Process

    def get(self, path: str) -> Any:
        client = Client(self.port, self.token)
        try:
            return client.get(path)
        finally:
            client.close()

    def spread(self) -> list[int]:
        """How many client connections each gunicorn worker holds, most first."""
        counts = []
        for worker in self.master.children():
            try:
                sockets = worker.net_connections("tcp")
            except psutil.Error:
                continue
            counts.append(sum(1 for s in sockets if s.laddr.port == self.port and s.raddr))
        return sorted(counts, reverse=True)


@contextmanager
def serve(env: dict[str, str], token: str, log: Path, timeout_s: float = 60) -> Iterator[Api]:
    """``rainbow web`` once it answers; in its own process group, so that its workers end too."""
    port = free_port()
    command = [*RAINBOW, "web", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        api = Api(port, token, psutil.Process(process.pid))
        give_up = time.monotonic() + timeout_s
        while True:
            try:
                api.get("/me")
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > give_up:
                    raise SystemExit(
                        f"the control plane did not answer:\n{log.read_text()}"
                    ) from exc
                time.sleep(0.2)
        yield api
    finally:
        process.send_signal(signal.SIGTERM)  # gunicorn stops its workers gracefully
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


Request = tuple[str, str, str, Any]
"""label, method, path, JSON body."""


@dataclass
class Phase:
    """What one phase measured: wall time, and every request's label, latency and status."""

    labels: list[str]
    spread: list[int]
    """Client connections held by each gunicorn worker (a connection stays with one worker)."""
    seconds: float = 0.0
    samples: list[tuple[str, float]] = field(default_factory=list)
    failures: list[tuple[str, int, str]] = field(default_factory=list)

    def latencies(self, label: str | None = None) -> list[float]:
        return [s for name, s in self.samples if label is None or name == label]


def drive(api: Api, requests: list[Request], threads: int, expect: int) -> Phase:
    """Send ``requests`` from ``threads`` clients at once: the latency of each one answered
    ``expect``, and every other answer."""
    todo: queue.SimpleQueue[Request] = queue.SimpleQueue()
    for request in requests:
        todo.put(request)
    clients = [Client(api.port, api.token) for _ in range(threads)]
    for client in clients:
        client.get("/me")  # connected, and the connection accepted by a worker
    labels = list(dict.fromkeys(label for label, *_ in requests))
    phase, lock = Phase(labels, api.spread()), threading.Lock()

    def work(client: Client) -> None:
        while True:
            try:
                label, method, path, body = todo.get_nowait()
            except queue.Empty:
                return
            began = time.perf_counter()
            try:
                status, answer = client.call(method, path, body)
            except (OSError, http.client.HTTPException) as exc:
                status, answer = 0, repr(exc).encode()
                client.close()  # the next call opens a new connection
            spent = time.perf_counter() - began
            with lock:
                if status == expect:
                    phase.samples.append((label, spent))
                else:
                    phase.failures.append((f"{method} {path}", status, answer.decode()[:2000]))

    workers = [threading.Thread(target=work, args=(client,), daemon=True) for client in clients]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    phase.seconds = time.perf_counter() - started
    for client in clients:
        client.close()
    return phase


def submits(version: str, count: int, first: int = 0) -> list[Request]:
    return [
        (
            "submit",
            "POST",
            "/runs",
            {
                "pipeline": PIPELINE,
                "environment": "staging",
                "version": version,
                "units": [{"x": first + i}],
            },
        )
        for i in range(count)
    ]


def lists(count: int, runs: int, since: datetime) -> list[Request]:
    """``count`` list requests cycling through filter combinations and pages of ``runs`` runs."""
    combinations = {
        "list pipeline+env+status": {
            "pipeline": PIPELINE,
            "environment": "staging",
            "status": "pending",
        },
        "list status": {"status": "pending"},
        "list user+created_after": {"submitted_by": USER, "created_after": since.isoformat()},
        "list no filter": {},
    }
    pages = max(1, runs // PAGE)
    found = []
    for i in range(count):
        label, filters = list(combinations.items())[i % len(combinations)]
        offset = (i // len(combinations)) % pages * PAGE
        query = urlencode({**filters, "limit": PAGE, "offset": offset})
        found.append((label, "GET", f"/runs?{query}", None))
    return found


def measure(store: str, runs: int, count: int, threads: int) -> tuple[Phase, Phase, Phase]:
    with home() as path, vhost() as broker, STORES[store]() as database:
        env = {
            **os.environ,
            "RAINBOW_HOME": str(path),
            "RAINBOW_ENGINE": "celery",
            "RAINBOW_BROKER_URL": broker,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        }
        env.pop("RAINBOW_URL", None)  # set-up talks to the database directly
        env.pop("RAINBOW_DATABASE_URL", None)
        if database:
            env["RAINBOW_DATABASE_URL"] = database
        token = set_up(env)
        with serve(env, token, path / "web.log") as api:
            pipeline = api.get(f"/pipelines/{PIPELINE}")
            version = pipeline["versions"][0]["spec_hash"].removeprefix("sha256:")[:12]
            since = datetime.now(UTC)
            # The floor every API request stands on: the server, authentication, the role.
            floor = drive(api, [("floor", "GET", "/me", None)] * count, threads, 200)
            warm = drive(api, submits(version, WARM_UP, first=-WARM_UP), threads, 201)
            submitted = drive(api, submits(version, runs), threads, 201)
            if not warm.failures and not submitted.failures:
                # Every run was recorded and none ran (no conductor): the list pages are full.
                pending = urlencode({"pipeline": PIPELINE, "status": "pending", "limit": 1})
                listed = api.get(f"/runs?{pending}")["count"]
                if listed != WARM_UP + runs:
                    raise SystemExit(f"{listed} pending runs listed, {WARM_UP + runs} submitted")
            listed = drive(api, lists(count, runs, since), threads, 200)
        return floor, submitted, listed


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def row(name: str, phase: Phase, label: str | None = None, rate: bool = True) -> str:
    latencies = phase.latencies(label)
    p50, p95 = percentiles(latencies) if latencies else (float("nan"), float("nan"))
    per_s = f"{len(phase.samples) / phase.seconds:9.1f}" if rate else f"{'':9}"
    failed = len(phase.failures) if label is None else ""
    spread = "+".join(map(str, phase.spread)) if label is None else ""
    return (
        f"{name:34} {len(latencies):>9} {per_s} {p50 * 1000:8.1f} {p95 * 1000:8.1f} "
        f"{failed:>7} {spread:>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs to submit, one per request")
    parser.add_argument("--lists", type=int, default=1000, help="list requests")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--store", choices=list(STORES), action="append", help="default: both")
    args = parser.parse_args()
    results = {
        store: measure(store, args.runs, args.lists, args.threads)
        for store in args.store or list(STORES)
    }
    print(
        f"{args.runs} runs submitted one per request, then {args.lists} list requests "
        f"(pages of {PAGE}); {args.threads} client threads, gunicorn 2 workers x 4 threads, "
        "celery engine without a conductor; conns: client connections held by each worker"
    )
    print(
        f"{'':34} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'failed':>7} "
        f"{'conns':>9}"
    )
    failures = []
    ratios = []
    for store, (floor, submitted, listed) in results.items():
        print(row(f"{store}: floor (GET /api/me)", floor))
        print(row(f"{store}: submit", submitted))
        print(row(f"{store}: list", listed))
        for label in listed.labels:
            print(row(f"  {label}", listed, label, rate=False))
        failures += [
            (store, *failure) for failure in floor.failures + submitted.failures + listed.failures
        ]
        base = percentiles(floor.latencies())[0]
        submit_p50, list_p50 = (percentiles(p.latencies())[0] for p in (submitted, listed))
        ratios.append(
            f"{store}: p50 over the floor: submit {submit_p50 / base:.1f}x, "
            f"list {list_p50 / base:.1f}x"
        )
    print("\n".join(ratios))
    for store, request, status, body in failures[:5]:
        print(f"{store}: {request} answered {status or 'nothing'}: {body}", file=sys.stderr)
    if failures:
        raise SystemExit(f"{len(failures)} requests failed")


if __name__ == "__main__":
    main()
